//! The routers under test, as processes: a mixnode, or this binary's `baseline-router`.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A router process; killed when dropped.
#[derive(Debug)]
pub struct RouterProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub metrics: Option<SocketAddr>,
}

impl Drop for RouterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RouterProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The directory this binary lives in (`target/<profile>`), where the mixnode binary is too.
fn binary_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    exe.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| "cannot locate this binary's directory".into())
}

/// Builds the mixnode binary with this binary's profile (a no-op when it is up to date).
pub fn ensure_mixnode_built() -> Result<PathBuf, String> {
    let dir = binary_dir()?;
    let profile = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("release")
        .to_string();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--profile", &profile, "-p", "mixnode"])
        .status()
        .map_err(|e| format!("cannot run cargo to build the mixnode: {e}"))?;
    if !status.success() {
        return Err("building the mixnode failed".into());
    }
    Ok(dir.join("mixnode"))
}

fn free_addr() -> Result<SocketAddr, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.local_addr().map_err(|e| e.to_string())
}

fn wait_listening(child: &mut Child, addr: SocketAddr, what: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{what} exited during start-up: {status}"));
        }
        if Instant::now() > deadline {
            return Err(format!("{what} did not start listening on {addr}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Initialises a mixnode in `home` and returns its Sphinx secret.
pub fn init_mixnode(binary: &Path, home: &Path) -> Result<(SocketAddr, [u8; 32]), String> {
    let addr = free_addr()?;
    let out = Command::new(binary)
        .args([
            "init",
            "--id",
            "bench",
            "--force",
            "--listen",
            &addr.to_string(),
        ])
        .arg("--home")
        .arg(home)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    if !out.status.success() {
        return Err(format!(
            "mixnode init: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let key = std::fs::read_to_string(home.join("mixnodes/bench/sphinx.key"))
        .map_err(|e| e.to_string())?;
    let mut secret = [0u8; 32];
    match bs58::decode(key.trim()).onto(&mut secret) {
        Ok(32) => Ok((addr, secret)),
        _ => Err("unreadable sphinx.key".into()),
    }
}

/// Sets `engine.KEY` in the config of the mixnode initialised in `home` (`None`: removes it,
/// leaving the node's default).
pub fn set_engine_option(home: &Path, key: &str, value: Option<u64>) -> Result<(), String> {
    let value = value
        .map(|v| i64::try_from(v).map_err(|_| format!("{key} {v} is too large")))
        .transpose()?;
    edit_engine(home, key, value.map(toml::Value::Integer))
}

/// Sets `engine.KEY = "VALUE"` in the bench mixnode's config (`None`: removes it).
pub fn set_engine_text(home: &Path, key: &str, value: Option<&str>) -> Result<(), String> {
    edit_engine(home, key, value.map(|v| toml::Value::String(v.into())))
}

fn edit_engine(home: &Path, key: &str, value: Option<toml::Value>) -> Result<(), String> {
    let path = home.join("mixnodes/bench/config.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut config: toml::Table = text
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let engine = config
        .entry("engine")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(engine) = engine else {
        return Err(format!("{}: [engine] is not a table", path.display()));
    };
    match value {
        Some(value) => engine.insert(key.into(), value),
        None => engine.remove(key),
    };
    std::fs::write(&path, config.to_string()).map_err(|e| format!("{}: {e}", path.display()))
}

/// The bench mixnode's static Noise public key (from its key file).
pub fn noise_public(home: &Path) -> Result<[u8; 32], String> {
    let path = home.join("mixnodes/bench/noise.key");
    let secret = validator_core::files::read_secret(&path).map_err(|e| e.to_string())?;
    Ok(*router_core::noise::handshake::StaticKey::from_secret(*secret).public())
}

/// Starts the mixnode initialised in `home`, one shard pinned to `cpu`.
pub fn start_mixnode(
    binary: &Path,
    home: &Path,
    addr: SocketAddr,
    cpu: usize,
    extra: &[&str],
) -> Result<RouterProcess, String> {
    let _ = std::fs::remove_file(home.join("mixnodes/bench/replay-filter.bin"));
    let metrics = free_addr()?;
    let mut child = Command::new(binary)
        .args(["run", "--id", "bench", "--danger-allow-any-next-hop"])
        .arg("--home")
        .arg(home)
        .args([
            "--cpus",
            &cpu.to_string(),
            "--metrics-listen",
            &metrics.to_string(),
        ])
        .args(extra)
        .env(
            "RUST_LOG",
            std::env::var("BENCH_NODE_LOG").unwrap_or_else(|_| "error".into()),
        )
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    wait_listening(&mut child, addr, "mixnode")?;
    wait_listening(&mut child, metrics, "mixnode metrics")?;
    Ok(RouterProcess {
        child,
        addr,
        metrics: Some(metrics),
    })
}

/// Starts this binary's Nym-style baseline router pinned to `cpu`.
pub fn start_baseline(secret_file: &Path, cpu: usize) -> Result<RouterProcess, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args([
            "baseline-router",
            "--listen",
            "127.0.0.1:0",
            "--cpu",
            &cpu.to_string(),
        ])
        .arg("--secret-file")
        .arg(secret_file)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the baseline router: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout from the baseline")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("the baseline router did not start: {line:?}"))?;
    wait_listening(&mut child, addr, "baseline router")?;
    Ok(RouterProcess {
        child,
        addr,
        metrics: None,
    })
}

/// User plus system CPU time of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // /proc reports clock ticks of USER_HZ, which is 100 on every Linux ABI.
    Some((utime + stime) / 100.0)
}

/// Resident set size of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The Prometheus text of a router with a metrics endpoint.
pub fn scrape(metrics: SocketAddr) -> Result<String, String> {
    testnet::metrics::fetch_blocking(metrics).map_err(|e| e.to_string())
}

/// One sample by exact series name.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
}

/// Cumulative `(le, count)` buckets of a histogram family (node totals).
pub fn buckets(text: &str, family: &str) -> Vec<(f64, f64)> {
    let prefix = format!("{family}_bucket{{le=\"");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (le, value) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, value.parse().ok()?))
        })
        .collect()
}
