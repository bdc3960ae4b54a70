//! Running the binaries' one-shot commands (`init`, `bond`, ...) and waiting for conditions.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use super::files::append;
use super::Member;
use crate::Error;

/// How often start-up conditions are polled.
const POLL: Duration = Duration::from_millis(50);

/// Runs a command to completion (at most until `deadline`), the command line and its output
/// appended to `log`; returns its stdout.
pub(super) async fn command(
    name: &str,
    program: &Path,
    arguments: &[String],
    log: &Path,
    rust_log: &str,
    deadline: Instant,
) -> Result<String, Error> {
    let line = format!("{} {}", program.display(), arguments.join(" "));
    append(log, format!("$ {line}\n").as_bytes())?;
    let run = tokio::process::Command::new(program)
        .args(arguments)
        .env("RUST_LOG", rust_log)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout_at(deadline.into(), run)
        .await
        .map_err(|_| {
            Error::process(format!("{name}: `{line}` did not finish in time")).with_log(log)
        })?
        .map_err(|e| Error::process(format!("cannot run {}: {e}", program.display())))?;
    append(log, &output.stderr)?;
    append(log, &output.stdout)?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(Error::process(format!("{name}: `{line}` failed ({})", output.status)).with_log(log))
    }
}

/// Polls `check` until it yields a value, while `member`'s process runs, until `deadline`;
/// a timeout shows `member`'s log.
pub(super) async fn poll_until<I, T, F, Fut>(
    what: &str,
    deadline: Instant,
    member: &mut Member<I>,
    mut check: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // A check that hangs (an unanswered request) must not outlive the deadline.
        if let Ok(Some(v)) = tokio::time::timeout(left.max(POLL), check()).await {
            return Ok(v);
        }
        member.check()?;
        if Instant::now() >= deadline {
            return Err(
                Error::network(format!("timed out waiting for {what}")).with_log(&member.log)
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Whether something accepts TCP connections at `addr`.
pub(super) async fn accepts(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

/// Owned arguments.
pub(super) fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|a| (*a).to_owned()).collect()
}

/// A path as an argument.
pub(super) fn arg(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_command_shows_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("x.log");
        let deadline = Instant::now() + Duration::from_secs(20);
        let sh = Path::new("/bin/sh");
        let ok = command(
            "ok",
            sh,
            &args(&["-c", "echo out; echo err >&2"]),
            &log,
            "info",
            deadline,
        )
        .await
        .unwrap();
        assert_eq!(ok, "out\n");
        let e = command(
            "bad",
            sh,
            &args(&["-c", "echo nope >&2; exit 2"]),
            &log,
            "info",
            deadline,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("bad: `/bin/sh -c echo nope >&2; exit 2` failed"),
            "{e}"
        );
        assert!(e.contains("\nnope\n"), "{e}");
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.starts_with("$ /bin/sh -c echo out; echo err >&2\nerr\nout\n"),
            "{text}"
        );
    }
}
