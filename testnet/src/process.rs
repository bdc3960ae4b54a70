//! Long-running child processes (validators, nodes, clients) and the guarantees around them.
//!
//! * Each [`NodeProcess`] owns its child; dropping it kills (SIGKILL) and reaps it, so an
//!   error, a panic (release builds unwind) or an early return never leaves one behind.
//! * Children run in their own process group, so a Ctrl-C at the terminal reaches only
//!   `bench`, which then stops the run in order and still reports; and with
//!   `PR_SET_PDEATHSIG` the kernel kills a child if `bench` itself dies without unwinding
//!   (SIGKILL, abort). The kernel ties that signal to the *thread* that started the child, so
//!   children must be spawned from threads that outlive them: the async code here runs on
//!   runtime worker threads, never inside `spawn_blocking`, whose threads exit when idle.
//! * stdout and stderr go to a log file; [`tail`] reads its end for error messages, and a
//!   [`LogWatch`] looks for a line (a readiness message) written after a given moment: a
//!   restarted process appends to the same log, so the old run's line must not count.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::Error;

/// Lines of a log shown with an error.
pub const TAIL_LINES: usize = 30;
/// Bytes read from the end of a log for its tail.
const TAIL_BYTES: u64 = 16 * 1024;
/// How often stopping processes are polled.
const POLL: Duration = Duration::from_millis(20);

/// A running child process with its log; killed and reaped when dropped.
#[derive(Debug)]
pub struct NodeProcess {
    name: String,
    log: PathBuf,
    child: Option<Child>,
}

impl NodeProcess {
    /// Starts `program args` with `RUST_LOG=rust_log`, stdout and stderr appended to `log`.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        log: &Path,
        rust_log: &str,
    ) -> Result<NodeProcess, Error> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| Error::io(format!("{}: {e}", log.display())))?;
        writeln!(file, "$ {} {}", program.display(), args.join(" "))
            .map_err(|e| Error::io(format!("{}: {e}", log.display())))?;
        let stderr = file
            .try_clone()
            .map_err(|e| Error::io(format!("{}: {e}", log.display())))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .env("RUST_LOG", rust_log)
            // Plain text in the log files (tracing-subscriber colours otherwise).
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr)
            .process_group(0);
        die_with_parent(&mut command);
        let child = command.spawn().map_err(|e| {
            Error::process(format!("cannot start {name} ({}): {e}", program.display()))
        })?;
        Ok(NodeProcess {
            name: name.to_owned(),
            log: log.to_path_buf(),
            child: Some(child),
        })
    }

    /// Its name (`validator v0`, `mixnode m3`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Its pid while it has not been reaped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether it was stopped (or found exited) and reaped.
    pub fn is_stopped(&self) -> bool {
        self.child.is_none()
    }

    /// `Ok` while it runs; an error with its exit status and log tail once it has exited.
    pub fn check_running(&mut self) -> Result<(), Error> {
        let Some(child) = self.child.as_mut() else {
            return Err(Error::process(format!("{} is not running", self.name)));
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.child = None;
                Err(self.exited_error(status))
            }
            Err(e) => Err(Error::process(format!("{}: {e}", self.name))),
        }
    }

    /// The error for an unexpected exit, with the log's tail.
    pub fn exited_error(&self, status: ExitStatus) -> Error {
        Error::process(format!("{} exited: {status}", self.name)).with_log(&self.log)
    }

    /// SIGHUP (a network requester reloads its allow list).
    pub fn hang_up(&self) {
        if let Some(child) = self.child.as_ref() {
            send_signal(child, libc::SIGHUP);
        }
    }

    /// SIGKILL and reap (no grace: what a crash looks like to the others).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Asks it to stop (SIGTERM); [`stop_all`] waits.
    fn terminate(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if let Ok(None) = child.try_wait() {
                send_signal(child, libc::SIGTERM);
            }
        }
    }

    /// Reaps it if it has exited; true once it is gone.
    fn reap(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            None => true,
            Some(Ok(None)) => false,
            Some(Ok(Some(_)) | Err(_)) => {
                self.child = None;
                true
            }
        }
    }

    /// SIGTERM, then SIGKILL if it is still running after `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        stop_all(&mut [self], grace).await;
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// SIGTERM to every process, then waits (polling, at most `grace`) until they have exited,
/// then SIGKILL for the rest. Every process is reaped when this returns.
pub async fn stop_all(processes: &mut [&mut NodeProcess], grace: Duration) {
    for p in processes.iter_mut() {
        p.terminate();
    }
    let deadline = Instant::now() + grace;
    loop {
        let mut all = true;
        for p in processes.iter_mut() {
            all &= p.reap();
        }
        if all {
            return;
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    for p in processes.iter_mut() {
        if !p.is_stopped() {
            eprintln!(
                "localnet: {} did not stop within {grace:?}; killing it",
                p.name
            );
            p.kill();
        }
    }
}

fn send_signal(child: &Child, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(child.id()) else {
        return;
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours. The pid is our own
    // child that has not been reaped (we hold its `Child` and reap only through it), so it
    // cannot have been reused for another process.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Makes the kernel SIGKILL the child when the thread that started it ends (see the module
/// docs), and makes the child give up if its parent is already gone.
fn die_with_parent(command: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: prctl(2) and getppid(2) are system calls, and the
    // errors are built from raw OS codes without allocating.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Bytes a [`LogWatch`] reads per look, at most (the rest waits for the next look).
const WATCH_CHUNK: u64 = 1 << 20;

/// Looks for a text in what a log file gains from a given moment on.
#[derive(Debug)]
pub struct LogWatch {
    path: PathBuf,
    needle: Vec<u8>,
    /// How far the file was read.
    offset: u64,
    /// The end of what was read, in case the needle spans two reads.
    carry: Vec<u8>,
}

impl LogWatch {
    /// Watches for `needle` in what is appended to `path` from now on (the whole file if it
    /// does not exist yet).
    pub fn from_end(path: &Path, needle: &str) -> LogWatch {
        LogWatch {
            path: path.to_path_buf(),
            needle: needle.as_bytes().to_vec(),
            offset: std::fs::metadata(path).map_or(0, |m| m.len()),
            carry: Vec::new(),
        }
    }

    /// Whether the needle has appeared since; reads what was appended since the last look
    /// (at most [`WATCH_CHUNK`] bytes). A file that shrank is read again from its start.
    pub fn seen(&mut self) -> bool {
        let Ok(mut file) = File::open(&self.path) else {
            return false;
        };
        let len = file.metadata().map_or(0, |m| m.len());
        if len < self.offset {
            self.offset = 0;
            self.carry.clear();
        }
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return false;
        }
        let mut chunk = Vec::new();
        if (&mut file)
            .take(WATCH_CHUNK)
            .read_to_end(&mut chunk)
            .is_err()
        {
            return false;
        }
        self.offset += chunk.len() as u64;
        scan(&mut self.carry, &chunk, &self.needle)
    }
}

/// Whether `needle` occurs in `carry` followed by `chunk`; keeps in `carry` the last bytes a
/// later match could start with.
fn scan(carry: &mut Vec<u8>, chunk: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    carry.extend_from_slice(chunk);
    let found = carry.windows(needle.len()).any(|w| w == needle);
    let keep = needle.len() - 1;
    if carry.len() > keep {
        carry.drain(..carry.len() - keep);
    }
    found
}

/// The last [`TAIL_LINES`] lines of a log file (empty if it cannot be read).
pub fn tail(path: &Path) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(TAIL_BYTES);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    last_lines(&String::from_utf8_lossy(&bytes), TAIL_LINES, start > 0)
}

/// The last `n` lines of `text`; when `cut` (the text starts mid-file) the first, partial
/// line is dropped.
pub fn last_lines(text: &str, n: usize, cut: bool) -> String {
    let lines: Vec<&str> = text.lines().skip(usize::from(cut)).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_keep_the_last_whole_lines() {
        assert_eq!(last_lines("a\nb\nc\n", 2, false), "b\nc");
        assert_eq!(last_lines("a\nb\nc", 5, false), "a\nb\nc");
        assert_eq!(last_lines("tial\nb\nc", 5, true), "b\nc");
        assert_eq!(last_lines("", 5, false), "");
    }

    #[test]
    fn a_watch_sees_only_what_was_written_after_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("r.log");
        let append = |text: &str| {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .unwrap();
            f.write_all(text.as_bytes()).unwrap();
        };
        // Before the file exists, and once it has an old run's line.
        assert!(!LogWatch::from_end(&log, "ready").seen());
        append("old run: ready\n");
        let mut watch = LogWatch::from_end(&log, "ready");
        assert!(!watch.seen());
        // A line written in two pieces, across two looks.
        append("new run: rea");
        assert!(!watch.seen());
        append("dy\n");
        assert!(watch.seen());
    }

    #[test]
    fn scanning_keeps_only_what_a_match_could_start_with() {
        let mut carry = Vec::new();
        assert!(!scan(&mut carry, b"abcne", b"needle"));
        assert_eq!(carry, b"abcne");
        assert!(!scan(&mut carry, b"xyz", b"needle"));
        assert_eq!(carry, b"nexyz");
        assert!(scan(&mut carry, b"needle", b"needle"));
        assert!(scan(&mut Vec::new(), b"", b""));
    }

    #[tokio::test]
    async fn a_process_is_stopped_gracefully_and_an_exit_is_reported_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let sh = Path::new("/bin/sh");
        let log = dir.path().join("p.log");
        // A process that ignores SIGTERM is killed after the grace period.
        let args = [
            "-c".to_owned(),
            "trap '' TERM; echo up; exec sleep 30".to_owned(),
        ];
        let mut stubborn = NodeProcess::spawn("stubborn", sh, &args, &log, "info").unwrap();
        stubborn.check_running().unwrap();
        let started = Instant::now();
        stubborn.stop(Duration::from_millis(300)).await;
        assert!(stubborn.is_stopped());
        assert!(started.elapsed() < Duration::from_secs(10));

        let log = dir.path().join("q.log");
        let args = ["-c".to_owned(), "echo \"log=$RUST_LOG\"; exit 3".to_owned()];
        let mut quitter = NodeProcess::spawn("quitter", sh, &args, &log, "debug").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let error = loop {
            if let Err(e) = quitter.check_running() {
                break e;
            }
            assert!(Instant::now() < deadline, "the process did not exit");
            tokio::time::sleep(POLL).await;
        };
        let text = error.to_string();
        assert!(text.contains("quitter exited"), "{text}");
        assert!(text.contains("log=debug"), "{text}");
    }
}
