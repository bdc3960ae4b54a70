//! The two system calls glommio's stream API does not offer: a scatter read and a gather write
//! over many packet buffers at once, non-blocking.
//!
//! glommio's `TcpStream` reads and writes one slice per call. One `recvmsg` filling a whole
//! batch of buffers, and one `sendmsg` draining a queue, are what keep the per-packet system
//! call cost small. Both use `MSG_DONTWAIT` and report "would block" as `Ok(None)`; the caller
//! then waits for readiness through glommio with a plain read or write of the first slice.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::RawFd;

/// Reads into `targets` in order. `Ok(None)`: nothing to read now. `Ok(Some(0))`: end of stream.
pub fn recv_scatter(fd: RawFd, targets: &mut [IoSliceMut<'_>]) -> io::Result<Option<usize>> {
    if targets.is_empty() {
        return Ok(Some(0));
    }
    // SAFETY: a zeroed msghdr is a valid "no address, no control data" header.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSliceMut` is guaranteed ABI-compatible with `iovec` on Unix, and every slice outlives
    // the call.
    header.msg_iov = targets.as_mut_ptr().cast::<libc::iovec>();
    header.msg_iovlen = targets.len() as _;
    // SAFETY: `header` points at `targets.len()` valid, writable iovecs for the whole call.
    non_blocking(|| unsafe { libc::recvmsg(fd, &mut header, libc::MSG_DONTWAIT) })
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

        let sources = [IoSlice::new(b"abc"), IoSlice::new(b"defgh")];
        assert_eq!(send_gather(client.as_raw_fd(), &sources).unwrap(), Some(8));
        client.flush().unwrap();
        let mut got = 0;
        while got < 8 {
            let mut targets = [
                IoSliceMut::new(&mut a[got.min(3)..]),
                IoSliceMut::new(&mut b),
            ];
            if let Some(n) = recv_scatter(server.as_raw_fd(), &mut targets).unwrap() {
                got += n;
            }
        }
        assert_eq!(&a, b"abc");
        assert_eq!(&b, b"defgh");
        drop(client);
        let mut targets = [IoSliceMut::new(&mut a)];
        loop {
            match recv_scatter(server.as_raw_fd(), &mut targets).unwrap() {
                Some(0) => break,
                Some(_) => panic!("no more data was sent"),
                None => std::thread::yield_now(),
            }
        }
    }
}
