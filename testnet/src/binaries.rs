//! Finding (and, under cargo, building) the `validator`, `mixnode`, `gateway` and `client`
//! binaries, and the `client` package's `socks5-client` and `network-requester` (needed only
//! with `--socks5`, see [`Binaries::require_socks5`]).
//!
//! They are looked for beside the running executable, in the same `target/<profile>`
//! directory (from a test binary in `target/<profile>/deps`, one level up). When `CARGO` is set
//! (running under `cargo run` or `cargo test`) they are built first with that cargo and this
//! executable's profile, so a benchmark never runs stale nodes; `cargo build` is a no-op when
//! they are fresh.

use std::path::{Path, PathBuf};

use super::options::BinarySource;
use super::Error;

/// The packages whose binaries the network runs, each with one binary of the same name.
pub const PACKAGES: [&str; 4] = ["validator", "mixnode", "gateway", "client"];

/// The `client` package's other binaries, for `--socks5` (`cargo build -p client --bins`
/// builds them with `client`).
pub const SOCKS5_BINARIES: [&str; 2] = ["socks5-client", "network-requester"];

/// Paths of the binaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    /// `validator`.
    pub validator: PathBuf,
    /// `mixnode`.
    pub mixnode: PathBuf,
    /// `gateway`.
    pub gateway: PathBuf,
    /// `client`.
    pub client: PathBuf,
    /// `socks5-client` (may be missing unless [`Binaries::require_socks5`] succeeded).
    pub socks5_client: PathBuf,
    /// `network-requester` (may be missing unless [`Binaries::require_socks5`] succeeded).
    pub network_requester: PathBuf,
}

impl Binaries {
    /// The binaries in `dir`; an error names every one of [`PACKAGES`] that is missing.
    pub fn in_dir(dir: &Path) -> Result<Binaries, Error> {
        let path = |name: &str| dir.join(name);
        let missing: Vec<&str> = PACKAGES
            .iter()
            .copied()
            .filter(|name| !path(name).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(Error::binaries(format!(
                "missing binar{} in {}: {} (build with `cargo build [--release] -p validator \
                 -p mixnode -p gateway -p client --bins`)",
                if missing.len() == 1 { "y" } else { "ies" },
                dir.display(),
                missing.join(", ")
            )));
        }
        Ok(Binaries {
            validator: path("validator"),
            mixnode: path("mixnode"),
            gateway: path("gateway"),
            client: path("client"),
            socks5_client: path("socks5-client"),
            network_requester: path("network-requester"),
        })
    }

    /// An error naming `socks5-client` and `network-requester` where they are missing.
    pub fn require_socks5(&self) -> Result<(), Error> {
        let missing: Vec<String> = [&self.socks5_client, &self.network_requester]
            .into_iter()
            .filter(|path| !path.is_file())
            .map(|path| path.display().to_string())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::binaries(format!(
            "--socks5 needs {} (build with `cargo build [--release] -p client --bins`)",
            missing.join(" and ")
        )))
    }

    /// The binaries `source` names, built first where it says so.
    pub async fn prepare(source: &BinarySource) -> Result<Binaries, Error> {
        match source {
            BinarySource::Directory(dir) => Binaries::in_dir(dir),
            BinarySource::BesideExecutableNoBuild => Binaries::in_dir(&profile_dir()?),
            BinarySource::BesideExecutable => {
                let dir = profile_dir()?;
                if let Some(cargo) = std::env::var_os("CARGO") {
                    build(Path::new(&cargo), &dir).await?;
                }
                Binaries::in_dir(&dir)
            }
        }
    }
}

/// The `target/<profile>` directory of the running executable.
pub fn profile_dir() -> Result<PathBuf, Error> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::binaries(format!("cannot locate the running executable: {e}")))?;
    profile_dir_of(&exe).ok_or_else(|| {
        Error::binaries(format!(
            "cannot tell the target directory of {}",
            exe.display()
        ))
    })
}

/// `target/<profile>` for an executable in it or in its `deps` (test binaries).
pub fn profile_dir_of(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?;
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().map(Path::to_path_buf)
    } else {
        Some(dir.to_path_buf())
    }
}

/// The `cargo build` profile arguments that put binaries into `dir`: `debug` is the dev
/// profile, any other directory name is the profile of that name.
pub fn profile_args(dir: &Path) -> Vec<String> {
    match dir.file_name().and_then(|n| n.to_str()) {
        None | Some("debug") => Vec::new(),
        Some("release") => vec!["--release".to_owned()],
        Some(other) => vec!["--profile".to_owned(), other.to_owned()],
    }
}

/// `cargo build [profile] [-p CALLER] -p validator -p mixnode -p gateway -p client --bins`.
///
/// `caller` is the package whose executable is running (cargo tells it in
/// `CARGO_PKG_NAME`). Building it together with the binaries makes cargo unify features over
/// the same graph that built the caller, which already holds every library the binaries use
/// (this crate depends on them): the shared crates are not compiled a second time with other
/// features, and only the binaries' `main`s are left to build.
pub fn build_args(dir: &Path, caller: Option<&str>) -> Vec<String> {
    let mut args = vec!["build".to_owned()];
    args.extend(profile_args(dir));
    let caller = caller.filter(|c| !PACKAGES.contains(c));
    for package in caller.into_iter().chain(PACKAGES) {
        args.push("-p".to_owned());
        args.push(package.to_owned());
    }
    args.push("--bins".to_owned());
    args
}

/// Variables cargo sets for the program it runs (`cargo run`, `cargo test`), which the inner
/// build must not see: some build scripts (ring's) ask to be rerun when `CARGO_PKG_NAME` and
/// its like change, and cargo compares them with *its own* environment, so an inner build
/// under `cargo run -p bench` would rebuild ring and everything above it (libp2p, the
/// consensus engine, the validator) each time it alternates with the outer build.
fn is_set_for_the_running_package(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "OUT_DIR"
        )
}

async fn build(cargo: &Path, dir: &Path) -> Result<(), Error> {
    let caller = std::env::var("CARGO_PKG_NAME").ok();
    let args = build_args(dir, caller.as_deref());
    eprintln!("localnet: {} {}", cargo.display(), args.join(" "));
    let mut command = tokio::process::Command::new(cargo);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_set_for_the_running_package) {
            command.env_remove(&name);
        }
    }
    let status = command
        .args(&args)
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| Error::binaries(format!("cannot run {}: {e}", cargo.display())))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::binaries(format!(
            "`cargo {}` failed ({status}); see its output above",
            args.join(" ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inner_build_does_not_inherit_the_running_packages_variables() {
        for name in [
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_MANIFEST_DIR",
            "OUT_DIR",
        ] {
            assert!(is_set_for_the_running_package(name), "{name}");
        }
        for name in [
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_JOBS",
            "PATH",
            "RUSTFLAGS",
        ] {
            assert!(!is_set_for_the_running_package(name), "{name}");
        }
    }

    #[test]
    fn test_binaries_look_one_level_up() {
        assert_eq!(
            profile_dir_of(Path::new("/t/target/debug/deps/localnet-abc")),
            Some(PathBuf::from("/t/target/debug"))
        );
        assert_eq!(
            profile_dir_of(Path::new("/t/target/release/bench")),
            Some(PathBuf::from("/t/target/release"))
        );
    }

    #[test]
    fn the_build_uses_the_profile_of_the_directory() {
        assert!(profile_args(Path::new("/t/target/debug")).is_empty());
        assert_eq!(profile_args(Path::new("/t/target/release")), ["--release"]);
        assert_eq!(
            profile_args(Path::new("/t/target/bench")),
            ["--profile", "bench"]
        );
        assert_eq!(
            build_args(Path::new("/t/target/release"), None).join(" "),
            "build --release -p validator -p mixnode -p gateway -p client --bins"
        );
        assert_eq!(
            build_args(Path::new("/t/target/release"), Some("bench")).join(" "),
            "build --release -p bench -p validator -p mixnode -p gateway -p client --bins"
        );
        assert_eq!(
            build_args(Path::new("/t/target/debug"), Some("client")).join(" "),
            "build -p validator -p mixnode -p gateway -p client --bins",
            "a caller that is one of the binaries' packages is not named twice"
        );
    }

    #[test]
    fn a_missing_binary_is_named() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["validator", "gateway"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let error = Binaries::in_dir(dir.path()).unwrap_err().to_string();
        assert!(error.contains("mixnode, client"), "{error}");
        for name in ["mixnode", "client"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let binaries = Binaries::in_dir(dir.path()).unwrap();
        assert_eq!(binaries.client, dir.path().join("client"));
        // The SOCKS5 pair is looked for only when asked for.
        let error = binaries.require_socks5().unwrap_err().to_string();
        assert!(
            error.contains("socks5-client and") && error.contains("network-requester"),
            "{error}"
        );
        for name in SOCKS5_BINARIES {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        binaries.require_socks5().unwrap();
        assert_eq!(
            binaries.network_requester,
            dir.path().join("network-requester")
        );
    }
}
