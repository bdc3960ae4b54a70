//! The system calls glommio's stream API does not offer: a scatter read and a gather write
//! over many packet buffers at once, non-blocking, and the kernel's receive timestamps.
//!
//! glommio's `TcpStream` reads and writes one slice per call. One `recvmsg` filling a whole
//! batch of buffers, and one `sendmsg` draining a queue, are what keep the per-packet system
//! call cost small. Both use `MSG_DONTWAIT` and report "would block" as `Ok(None)`; the caller
//! then waits for readiness through glommio with a plain read or write of the first slice.
//!
//! With [`enable_receive_timestamps`] on a socket, the kernel stamps each segment when it
//! arrives and `recvmsg` reports the stamp of the newest segment it consumed
//! (`SCM_TIMESTAMPNS`, wall clock); [`recv_scatter`] turns it into how long those bytes
//! waited in the socket buffer (a wall-clock step shows as one odd sample).

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::RawFd;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What one scatter read brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScatterRead {
    /// Bytes read; 0 at the end of the stream.
    pub len: usize,
    /// How long the newest of those bytes had waited in the socket buffer, when the socket
    /// has receive timestamps on.
    pub waited: Option<Duration>,
}

/// Raises the process's `RLIMIT_NOFILE` soft limit to its hard limit (a node holds a
/// descriptor per connection); returns the soft limit in force, `None` if it cannot be read.
pub fn raise_open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given, which lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct it is given, which lives for the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    Some(limit.rlim_cur)
}

/// Asks the kernel to timestamp what arrives on `fd` (`SO_TIMESTAMPNS`).
pub fn enable_receive_timestamps(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a valid c_int for the duration of the call, and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            std::ptr::addr_of!(on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads into `targets` in order. `Ok(None)`: nothing to read now.
pub fn recv_scatter(fd: RawFd, targets: &mut [IoSliceMut<'_>]) -> io::Result<Option<ScatterRead>> {
    if targets.is_empty() {
        return Ok(Some(ScatterRead {
            len: 0,
            waited: None,
        }));
    }
    // Room for one `SCM_TIMESTAMPNS` message (a cmsghdr and a timespec, 32 bytes on 64-bit
    // Linux), aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: a zeroed msghdr is a valid "no address, no control data" header.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSliceMut` is guaranteed ABI-compatible with `iovec` on Unix, and every slice outlives
    // the call.
    header.msg_iov = targets.as_mut_ptr().cast::<libc::iovec>();
    header.msg_iovlen = targets.len() as _;
    header.msg_control = control.as_mut_ptr().cast();
    header.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `header` points at `targets.len()` valid, writable iovecs and at `control`, all
    // alive for the whole call.
    let len = non_blocking(|| unsafe { libc::recvmsg(fd, &mut header, libc::MSG_DONTWAIT) })?;
    Ok(len.map(|len| ScatterRead {
        len,
        waited: receive_timestamp(&header).map(|stamp| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            now.saturating_sub(stamp)
        }),
    }))
}

/// The `SCM_TIMESTAMPNS` stamp among the control messages `recvmsg` filled in, as time since
/// the Unix epoch.
fn receive_timestamp(header: &libc::msghdr) -> Option<Duration> {
    // SAFETY: `header` was filled by a successful recvmsg: msg_control/msg_controllen describe
    // the control messages the kernel wrote into our buffer (which is still alive), and the
    // CMSG_* helpers stay within them.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(header);
        while !cmsg.is_null() {
            let c = &*cmsg;
            if c.cmsg_level == libc::SOL_SOCKET && c.cmsg_type == libc::SCM_TIMESTAMPNS {
                let stamp: libc::timespec =
                    std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::timespec>());
                let secs = u64::try_from(stamp.tv_sec).ok()?;
                let nanos = u32::try_from(stamp.tv_nsec).ok()?;
                return (nanos < 1_000_000_000).then(|| Duration::new(secs, nanos));
            }
            cmsg = libc::CMSG_NXTHDR(header, cmsg);
        }
    }
    None
}

/// Writes `sources` in order. `Ok(None)`: the socket buffer is full now.
pub fn send_gather(fd: RawFd, sources: &[IoSlice<'_>]) -> io::Result<Option<usize>> {
    if sources.is_empty() {
        return Ok(Some(0));
    }
    // SAFETY: as in `recv_scatter`.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    // `sendmsg` only reads through `msg_iov`; the cast to `*mut` is required by the C type.
    header.msg_iov = sources.as_ptr().cast_mut().cast::<libc::iovec>();
    header.msg_iovlen = sources.len() as _;
    // SAFETY: `header` points at `sources.len()` valid iovecs for the whole call; MSG_NOSIGNAL
    // turns a closed peer into EPIPE instead of a process-killing SIGPIPE.
    non_blocking(|| unsafe { libc::sendmsg(fd, &header, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) })
}

/// Runs a non-blocking system call returning a byte count: retried on EINTR, "would block" as
/// `Ok(None)`.
fn non_blocking(mut call: impl FnMut() -> isize) -> io::Result<Option<usize>> {
    loop {
        let n = call();
        if n >= 0 {
            return Ok(Some(n.unsigned_abs()));
        }
        let error = io::Error::last_os_error();
        match error.kind() {
            io::ErrorKind::WouldBlock => return Ok(None),
            io::ErrorKind::Interrupted => continue,
            _ => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    #[test]
    fn scatter_and_gather_move_bytes_in_order_and_report_would_block() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();

        let (mut a, mut b) = ([0u8; 3], [0u8; 5]);
        let mut targets = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
        assert_eq!(
            recv_scatter(server.as_raw_fd(), &mut targets).unwrap(),
            None
        );
        let len = |read: Option<ScatterRead>| read.map(|r| r.len);

        let sources = [IoSlice::new(b"abc"), IoSlice::new(b"defgh")];
        assert_eq!(send_gather(client.as_raw_fd(), &sources).unwrap(), Some(8));
        client.flush().unwrap();
        let mut got = 0;
        while got < 8 {
            let mut targets = [
                IoSliceMut::new(&mut a[got.min(3)..]),
                IoSliceMut::new(&mut b),
            ];
            if let Some(n) = len(recv_scatter(server.as_raw_fd(), &mut targets).unwrap()) {
                got += n;
            }
        }
        assert_eq!(&a, b"abc");
        assert_eq!(&b, b"defgh");
        drop(client);
        let mut targets = [IoSliceMut::new(&mut a)];
        loop {
            match len(recv_scatter(server.as_raw_fd(), &mut targets).unwrap()) {
                Some(0) => break,
                Some(_) => panic!("no more data was sent"),
                None => std::thread::yield_now(),
            }
        }
    }

    /// The first non-empty read of `socket` into `buf`, spinning while nothing is there.
    fn read_when_ready(socket: &std::net::TcpStream, buf: &mut [u8]) -> ScatterRead {
        loop {
            let mut targets = [IoSliceMut::new(buf)];
            if let Some(read) = recv_scatter(socket.as_raw_fd(), &mut targets).unwrap() {
                return read;
            }
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_read_reports_how_long_its_bytes_waited_in_the_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        enable_receive_timestamps(server.as_raw_fd()).unwrap();
        // The kernel turns receive timestamping on system-wide through deferred work (a
        // workqueue item, late on a busy machine), so segments sent right after the first
        // socket asks for it arrive unstamped: send single bytes until one comes back
        // stamped (bounded), then measure.
        let enabled_by = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            client.write_all(b"w").unwrap();
            if read_when_ready(&server, &mut [0u8; 1]).waited.is_some() {
                break;
            }
            assert!(
                std::time::Instant::now() < enabled_by,
                "the kernel stamped no segment within 10 s of enabling SO_TIMESTAMPNS"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        client.write_all(b"stamped").unwrap();
        // The quantity under test: bytes left in the socket for at least 30 ms.
        let left_at = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(30));
        let read = read_when_ready(&server, &mut [0u8; 16]);
        let elapsed = left_at.elapsed();
        assert_eq!(read.len, 7);
        let waited = read.waited.expect("the kernel stamped the bytes");
        assert!(waited >= Duration::from_millis(29), "waited {waited:?}");
        assert!(
            waited <= elapsed + Duration::from_millis(5),
            "waited {waited:?} of {elapsed:?}"
        );
    }
}
