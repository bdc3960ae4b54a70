//! The handshake parser's tests: byte-exact exchanges, limits, and property tests over
//! arbitrary bytes and arbitrary splits of valid requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;
use proptest::prelude::*;

/// What an app observes: the bytes written back, the request or the error, and the bytes
/// left unconsumed (after a request) in the caller's buffer.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    wire: Vec<u8>,
    result: Option<Result<ConnectRequest, HandshakeErrorKind>>,
    leftover: Vec<u8>,
}

/// Feeds `chunks` the way a connection does: append each read to a buffer, hand the buffer
/// over, write the reply, drop the consumed bytes.
fn drive(auth: Auth, chunks: &[&[u8]]) -> Outcome {
    let mut hs = Handshake::new(auth);
    let mut buf = Vec::new();
    let mut wire = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        buf.extend_from_slice(chunk);
        match hs.handle_input(&buf) {
            Ok(p) => {
                assert!(p.consumed <= buf.len(), "consumed more than given");
                wire.extend_from_slice(&p.reply);
                buf.drain(..p.consumed);
                if let Some(request) = p.request {
                    for rest in &chunks[i + 1..] {
                        buf.extend_from_slice(rest);
                    }
                    return Outcome {
                        wire,
                        result: Some(Ok(request)),
                        leftover: buf,
                    };
                }
            }
            Err(e) => {
                wire.extend(e.error_reply().unwrap_or_default());
                return Outcome {
                    wire,
                    result: Some(Err(e.kind().clone())),
                    leftover: Vec::new(),
                };
            }
        }
    }
    Outcome {
        wire,
        result: None,
        leftover: buf,
    }
}

fn whole(auth: Auth, input: &[u8]) -> Outcome {
    drive(auth, &[input])
}

fn user_pass() -> Auth {
    Auth::UserPass {
        username: b"user".to_vec(),
        password: b"pass".to_vec(),
    }
}

fn request(version: Version, host: Host, port: u16, username: Option<&[u8]>) -> ConnectRequest {
    ConnectRequest {
        version,
        target: TargetAddr { host, port },
        username: username.map(<[u8]>::to_vec),
    }
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The SOCKS5 reply with code `code` and bound address 0.0.0.0:0.
fn v5_reply(code: u8) -> Vec<u8> {
    vec![5, code, 0, 1, 0, 0, 0, 0, 0, 0]
}

const SOCKS4_REJECT: [u8; 8] = [0, 0x5B, 0, 0, 0, 0, 0, 0];

#[test]
fn socks5_no_auth_connect_by_domain() {
    let input = cat(&[&[5, 1, 0], &[5, 1, 0, 3, 11], b"example.com", &[0x01, 0xBB]]);
    let mut hs = Handshake::new(Auth::None);
    let p = hs.handle_input(&input).unwrap();
    assert_eq!(p.consumed, input.len());
    assert_eq!(p.reply, [5, 0]);
    assert_eq!(
        p.request,
        Some(request(
            Version::V5,
            Host::Domain("example.com".into()),
            443,
            None
        ))
    );
    assert_eq!(p.request.unwrap().target.to_string(), "example.com:443");
}

#[test]
fn socks5_no_auth_connect_by_ipv4_one_stage_at_a_time() {
    let mut hs = Handshake::new(Auth::None);
    let p = hs.handle_input(&[5, 2, 0, 2]).unwrap();
    assert_eq!((p.consumed, p.reply, p.request), (4, vec![5, 0], None));
    let req = [5, 1, 0, 1, 127, 0, 0, 1, 0, 80];
    // Incomplete: nothing consumed, nothing to say.
    assert_eq!(hs.handle_input(&req[..9]).unwrap(), Progress::default());
    let p = hs.handle_input(&req).unwrap();
    assert_eq!(p.consumed, 10);
    assert!(p.reply.is_empty());
    let r = p.request.unwrap();
    assert_eq!(
        r,
        request(Version::V5, Host::Ip([127, 0, 0, 1].into()), 80, None)
    );
    assert_eq!(r.target.to_string(), "127.0.0.1:80");
    // The handshake is over.
    let e = hs.handle_input(&[5]).unwrap_err();
    assert_eq!(e.kind(), &HandshakeErrorKind::Finished);
    assert_eq!(e.error_reply(), None);
}

#[test]
fn socks5_no_auth_connect_by_ipv6() {
    let ip: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let input = cat(&[&[5, 1, 0, 5, 1, 0, 4], &ip.octets(), &[0x1F, 0x90]]);
    let out = whole(Auth::None, &input);
    let r = out.result.unwrap().unwrap();
    assert_eq!(r, request(Version::V5, Host::Ip(ip.into()), 8080, None));
    assert_eq!(r.target.to_string(), "[2001:db8::1]:8080");
    assert_eq!(out.wire, [5, 0]);
}

#[test]
fn socks5_username_password_accepted() {
    // The app offers both methods; the proxy requires user/pass, so it picks 02.
    let input = cat(&[
        &[5, 2, 0, 2],
        &[1, 4],
        b"user",
        &[4],
        b"pass",
        &[5, 1, 0, 1, 10, 0, 0, 1, 0, 22],
    ]);
    let out = whole(user_pass(), &input);
    assert_eq!(out.wire, [5, 2, 1, 0]);
    assert_eq!(
        out.result,
        Some(Ok(request(
            Version::V5,
            Host::Ip([10, 0, 0, 1].into()),
            22,
            Some(b"user")
        )))
    );
    assert!(out.leftover.is_empty());
}

#[test]
fn socks5_username_password_rejected() {
    let greeting = [5, 1, 2];
    let wrong_pass = cat(&[&[1, 4], b"user", &[4], b"pasS"]);
    let wrong_user = cat(&[&[1, 3], b"use", &[4], b"pass"]);
    for creds in [&wrong_pass, &wrong_user] {
        let mut hs = Handshake::new(user_pass());
        assert_eq!(hs.handle_input(&greeting).unwrap().reply, [5, 2]);
        let e = hs.handle_input(creds).unwrap_err();
        assert_eq!(e.kind(), &HandshakeErrorKind::AuthFailed);
        assert_eq!(e.version(), Some(Version::V5));
        assert_eq!(e.error_reply(), Some(vec![1, 1]));
    }
    // Pipelined: the error reply carries the method selection the app has not read yet.
    let e = Handshake::new(user_pass())
        .handle_input(&cat(&[&greeting, &wrong_pass]))
        .unwrap_err();
    assert_eq!(e.error_reply(), Some(vec![5, 2, 1, 1]));
    // A wrong sub-negotiation version.
    let e = Handshake::new(user_pass())
        .handle_input(&[5, 1, 2, 5, 1, 0, 1])
        .unwrap_err();
    assert_eq!(e.kind(), &HandshakeErrorKind::AuthVersion(5));
    assert_eq!(e.error_reply(), Some(vec![5, 2, 1, 1]));
}

#[test]
fn without_required_auth_any_credentials_are_accepted() {
    // An app that only offers user/pass, to a proxy that needs nothing.
    let input = cat(&[
        &[5, 1, 2, 1, 1],
        b"x",
        &[0],
        &[5, 1, 0, 3, 1],
        b"a",
        &[0, 1],
    ]);
    let out = whole(Auth::None, &input);
    assert_eq!(out.wire, [5, 2, 1, 0]);
    assert_eq!(
        out.result,
        Some(Ok(request(
            Version::V5,
            Host::Domain("a".into()),
            1,
            Some(b"x")
        )))
    );
}

#[test]
fn no_acceptable_method() {
    // GSSAPI only.
    let e = Handshake::new(Auth::None)
        .handle_input(&[5, 1, 1])
        .unwrap_err();
    assert_eq!(e.kind(), &HandshakeErrorKind::NoAcceptableMethod(vec![1]));
    assert_eq!(e.error_reply(), Some(vec![5, 0xFF]));
    // No authentication offered to a proxy that requires a password.
    let e = Handshake::new(user_pass())
        .handle_input(&[5, 1, 0])
        .unwrap_err();
    assert_eq!(e.error_reply(), Some(vec![5, 0xFF]));
    // No methods at all.
    let e = Handshake::new(Auth::None)
        .handle_input(&[5, 0])
        .unwrap_err();
    assert_eq!(e.kind(), &HandshakeErrorKind::NoAcceptableMethod(vec![]));
}

#[test]
fn socks4_by_ip() {
    let input = cat(&[&[4, 1, 0, 80, 93, 184, 216, 34], b"fred", &[0]]);
    let out = whole(Auth::None, &input);
    assert!(out.wire.is_empty());
    assert_eq!(
        out.result,
        Some(Ok(request(
            Version::V4,
            Host::Ip([93, 184, 216, 34].into()),
            80,
            Some(b"fred")
        )))
    );
    // 0.0.0.0 is an address, not the SOCKS4a marker.
    let out = whole(Auth::None, &[4, 1, 0, 80, 0, 0, 0, 0, 0]);
    assert_eq!(
        out.result,
        Some(Ok(request(
            Version::V4,
            Host::Ip([0, 0, 0, 0].into()),
            80,
            None
        )))
    );
}

#[test]
fn socks4a_by_domain() {
    let input = cat(&[&[4, 1, 1, 0xBB, 0, 0, 0, 1, 0], b"example.com", &[0]]);
    let out = whole(Auth::None, &input);
    assert_eq!(
        out.result,
        Some(Ok(request(
            Version::V4,
            Host::Domain("example.com".into()),
            443,
            None
        )))
    );
    // The domain has not arrived yet: wait.
    let mut hs = Handshake::new(Auth::None);
    assert_eq!(hs.handle_input(&input[..15]).unwrap(), Progress::default());
    assert_eq!(hs.handle_input(&input).unwrap().consumed, input.len());
}

#[test]
fn socks4_limits() {
    let head = [4, 1, 0, 80, 1, 2, 3, 4];
    let id255 = cat(&[&head, &[b'a'; 255], &[0]]);
    let r = whole(Auth::None, &id255).result.unwrap().unwrap();
    assert_eq!(r.username, Some(vec![b'a'; 255]));
    // 256 bytes without a NUL: refused without waiting for more.
    let e = Handshake::new(Auth::None)
        .handle_input(&cat(&[&head, &[b'a'; 256]]))
        .unwrap_err();
    assert_eq!(e.kind(), &HandshakeErrorKind::UserIdTooLong);
    assert_eq!(e.error_reply(), Some(SOCKS4_REJECT.to_vec()));
    // But 255 without a NUL may still be completed.
    let p = Handshake::new(Auth::None).handle_input(&cat(&[&head, &[b'a'; 255]]));
    assert_eq!(p.unwrap(), Progress::default());

    let head4a = [4, 1, 0, 80, 0, 0, 0, 9, 0];
    let d255 = cat(&[&head4a, &[b'd'; 255], &[0]]);
    let r = whole(Auth::None, &d255).result.unwrap().unwrap();
    assert_eq!(r.target.host, Host::Domain("d".repeat(255)));
    let e = Handshake::new(Auth::None)
        .handle_input(&cat(&[&head4a, &[b'd'; 256]]))
        .unwrap_err();
    assert_eq!(e.kind(), &HandshakeErrorKind::DomainTooLong);
    assert_eq!(e.error_reply(), Some(SOCKS4_REJECT.to_vec()));
    let e = Handshake::new(Auth::None)
        .handle_input(&cat(&[&head4a, &[0]]))
        .unwrap_err();
    assert_eq!(e.kind(), &HandshakeErrorKind::EmptyDomain);
    let e = Handshake::new(Auth::None)
        .handle_input(&cat(&[&head4a, b"a\nb", &[0]]))
        .unwrap_err();
    assert_eq!(e.kind(), &HandshakeErrorKind::InvalidDomain(b'\n'));
    assert_eq!(e.error_reply(), Some(SOCKS4_REJECT.to_vec()));
}

#[test]
fn socks4_cannot_satisfy_a_password() {
    let e = Handshake::new(user_pass())
        .handle_input(&[4, 1, 0, 80, 1, 2, 3, 4, 0])
        .unwrap_err();
    assert_eq!(e.kind(), &HandshakeErrorKind::PasswordRequired);
    assert_eq!(e.version(), Some(Version::V4));
    assert_eq!(e.error_reply(), Some(SOCKS4_REJECT.to_vec()));
}

#[test]
fn other_commands_are_not_supported() {
    for command in [2u8, 3, 0, 9] {
        // SOCKS5 BIND, UDP ASSOCIATE and garbage: reply 07 after the method selection.
        let input = [5, 1, 0, 5, command, 0, 1, 1, 2, 3, 4, 0, 80];
        let out = whole(Auth::None, &input);
        assert_eq!(
            out.result,
            Some(Err(HandshakeErrorKind::CommandNotSupported(command)))
        );
        assert_eq!(out.wire, cat(&[&[5, 0], &v5_reply(7)]));
        // The command byte alone decides.
        let e = Handshake::new(Auth::None)
            .handle_input(&input[..5])
            .unwrap_err();
        assert_eq!(e.error_reply(), Some(cat(&[&[5, 0], &v5_reply(7)])));
        // SOCKS4 BIND: 5B.
        let e = Handshake::new(Auth::None)
            .handle_input(&[4, command, 0, 80, 1, 2, 3, 4, 0])
            .unwrap_err();
        assert_eq!(e.kind(), &HandshakeErrorKind::CommandNotSupported(command));
        assert_eq!(e.error_reply(), Some(SOCKS4_REJECT.to_vec()));
    }
}

#[test]
fn bad_socks5_requests() {
    let mut hs = Handshake::new(Auth::None);
    hs.handle_input(&[5, 1, 0]).unwrap();
    let e = hs
        .handle_input(&[5, 1, 0, 5, 1, 2, 3, 4, 0, 80])
        .unwrap_err();
    assert_eq!(e.kind(), &HandshakeErrorKind::AddressTypeNotSupported(5));
    assert_eq!(e.error_reply(), Some(v5_reply(8)));

    let bad = |request: &[u8]| {
        let mut hs = Handshake::new(Auth::None);
        hs.handle_input(&[5, 1, 0]).unwrap();
        let e = hs.handle_input(request).unwrap_err();
        (e.kind().clone(), e.error_reply())
    };
    assert_eq!(
        bad(&[4, 1, 0, 1, 1, 2, 3, 4, 0, 80]),
        (HandshakeErrorKind::RequestVersion(4), Some(v5_reply(1)))
    );
    assert_eq!(
        bad(&[5, 1, 0, 3, 0, 0, 80]),
        (HandshakeErrorKind::EmptyDomain, Some(v5_reply(1)))
    );
    assert_eq!(
        bad(&[5, 1, 0, 3, 3, b'a', 0, b'b', 0, 80]),
        (HandshakeErrorKind::InvalidDomain(0), Some(v5_reply(1)))
    );
    assert_eq!(
        bad(&[5, 1, 0, 3, 3, b'a', 0xC3, 0xA9, 0, 80]),
        (HandshakeErrorKind::InvalidDomain(0xC3), Some(v5_reply(1)))
    );
}

#[test]
fn not_socks_gets_no_reply() {
    let e = Handshake::new(Auth::None)
        .handle_input(b"GET / HTTP/1.1\r\n")
        .unwrap_err();
    assert_eq!(e.kind(), &HandshakeErrorKind::UnsupportedVersion(b'G'));
    assert_eq!(e.version(), None);
    assert_eq!(e.error_reply(), None);
    assert_eq!(
        Handshake::new(Auth::None).handle_input(&[]).unwrap(),
        Progress::default()
    );
}

#[test]
fn pipelined_data_is_not_consumed() {
    let data = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
    let v5 = cat(&[&[5, 1, 0, 5, 1, 0, 3, 1, b'x', 0, 80], data]);
    let out = whole(Auth::None, &v5);
    assert!(out.result.unwrap().is_ok());
    assert_eq!(out.leftover, data);
    let p = Handshake::new(Auth::None).handle_input(&v5).unwrap();
    assert_eq!(p.consumed, 11);

    let v4 = cat(&[&[4, 1, 0, 80, 1, 2, 3, 4, 0], data]);
    let p = Handshake::new(Auth::None).handle_input(&v4).unwrap();
    assert_eq!(p.consumed, 9);
    assert!(p.request.is_some());
}

#[test]
fn connect_replies_are_exact() {
    assert_eq!(
        connect_reply(Version::V5, ReplyCode::Succeeded, None),
        v5_reply(0)
    );
    assert_eq!(
        connect_reply(
            Version::V5,
            ReplyCode::Succeeded,
            Some("10.0.0.1:1080".parse().unwrap())
        ),
        [5, 0, 0, 1, 10, 0, 0, 1, 0x04, 0x38]
    );
    let mut v6 = vec![5, 5, 0, 4];
    v6.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
    v6.extend_from_slice(&[0x01, 0xBB]);
    assert_eq!(
        connect_reply(
            Version::V5,
            ReplyCode::ConnectionRefused,
            Some("[2001:db8::2]:443".parse().unwrap())
        ),
        v6
    );
    assert_eq!(
        connect_reply(
            Version::V4,
            ReplyCode::Succeeded,
            Some("1.2.3.4:80".parse().unwrap())
        ),
        [0, 0x5A, 0, 80, 1, 2, 3, 4]
    );
    assert_eq!(
        connect_reply(Version::V4, ReplyCode::Succeeded, None),
        [0, 0x5A, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(
        connect_reply(
            Version::V4,
            ReplyCode::Succeeded,
            Some("[::1]:80".parse().unwrap())
        ),
        [0, 0x5A, 0, 0, 0, 0, 0, 0]
    );
    for code in [
        ReplyCode::GeneralFailure,
        ReplyCode::NotAllowed,
        ReplyCode::TtlExpired,
    ] {
        assert_eq!(connect_reply(Version::V4, code, None), SOCKS4_REJECT);
    }
}

#[test]
fn reply_codes_convert_both_ways() {
    for n in 0..=8u8 {
        assert_eq!(u8::from(ReplyCode::from(n)), n);
    }
    for n in 9..=255u8 {
        assert_eq!(ReplyCode::from(n), ReplyCode::GeneralFailure);
    }
}

#[test]
fn debug_never_shows_the_password() {
    let auth = Auth::UserPass {
        username: b"alice".to_vec(),
        password: b"hunter2".to_vec(),
    };
    let shown = format!("{auth:?}");
    assert!(shown.contains("alice"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

// ----- property tests -----

/// A valid handshake: the app's bytes, the proxy's auth, and what must come out.
#[derive(Debug, Clone)]
struct Case {
    auth: Auth,
    input: Vec<u8>,
    wire: Vec<u8>,
    request: ConnectRequest,
}

/// The test's own encoder, straight from the RFCs.
fn encode_v5_request(target: &TargetAddr) -> Vec<u8> {
    let mut out = vec![5, 1, 0];
    match &target.host {
        Host::Domain(d) => {
            out.push(3);
            out.push(u8::try_from(d.len()).unwrap());
            out.extend_from_slice(d.as_bytes());
        }
        Host::Ip(IpAddr::V4(ip)) => {
            out.push(1);
            out.extend_from_slice(&ip.octets());
        }
        Host::Ip(IpAddr::V6(ip)) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&target.port.to_be_bytes());
    out
}

fn encode_v4_request(target: &TargetAddr, user_id: &[u8]) -> Vec<u8> {
    let mut out = vec![4, 1];
    out.extend_from_slice(&target.port.to_be_bytes());
    match &target.host {
        Host::Ip(IpAddr::V4(ip)) => out.extend_from_slice(&ip.octets()),
        _ => out.extend_from_slice(&[0, 0, 0, 1]),
    }
    out.extend_from_slice(user_id);
    out.push(0);
    if let Host::Domain(d) = &target.host {
        out.extend_from_slice(d.as_bytes());
        out.push(0);
    }
    out
}

fn host_strategy() -> impl Strategy<Value = Host> {
    prop_oneof![
        "[a-zA-Z0-9._~!-]{1,255}".prop_map(Host::Domain),
        any::<[u8; 4]>().prop_map(|o| Host::Ip(o.into())),
        any::<[u8; 16]>().prop_map(|o| Host::Ip(o.into())),
    ]
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        0u8..4,
        host_strategy(),
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 0..=255),
        proptest::collection::vec(any::<u8>(), 0..=255),
        proptest::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(dialect, host, port, user, pass, extra_methods)| {
            let target = TargetAddr { host, port };
            let creds = |u: &[u8], p: &[u8]| {
                cat(&[&[1, u.len() as u8], u, &[p.len() as u8], p])
            };
            match dialect {
                // SOCKS5, no authentication among other methods.
                0 => {
                    let methods = cat(&[&extra_methods, &[0]]);
                    Case {
                        auth: Auth::None,
                        input: cat(&[&[5, methods.len() as u8], &methods, &encode_v5_request(&target)]),
                        wire: vec![5, 0],
                        request: ConnectRequest { version: Version::V5, target, username: None },
                    }
                }
                // SOCKS5, only user/pass offered to a proxy that needs nothing.
                1 => Case {
                    auth: Auth::None,
                    input: cat(&[&[5, 1, 2], &creds(&user, &pass), &encode_v5_request(&target)]),
                    wire: vec![5, 2, 1, 0],
                    request: ConnectRequest { version: Version::V5, target, username: Some(user) },
                },
                // SOCKS5, user/pass required.
                2 => {
                    let methods = cat(&[&extra_methods, &[2]]);
                    Case {
                        auth: Auth::UserPass { username: user.clone(), password: pass.clone() },
                        input: cat(&[
                            &[5, methods.len() as u8],
                            &methods,
                            &creds(&user, &pass),
                            &encode_v5_request(&target),
                        ]),
                        wire: vec![5, 2, 1, 0],
                        request: ConnectRequest { version: Version::V5, target, username: Some(user) },
                    }
                }
                // SOCKS4 (IPv4) or SOCKS4a (domain).
                _ => {
                    let user_id: Vec<u8> = user.into_iter().filter(|b| *b != 0).collect();
                    let host = match target.host {
                        Host::Ip(IpAddr::V4(ip)) if matches!(ip.octets(), [0, 0, 0, x] if x != 0) => {
                            Host::Ip([1, 0, 0, ip.octets()[3]].into())
                        }
                        Host::Ip(IpAddr::V6(ip)) => {
                            let o = ip.octets();
                            Host::Ip([o[0] | 1, o[1], o[2], o[3]].into())
                        }
                        other => other,
                    };
                    let target = TargetAddr { host, port };
                    Case {
                        auth: Auth::None,
                        input: encode_v4_request(&target, &user_id),
                        wire: Vec::new(),
                        request: ConnectRequest {
                            version: Version::V4,
                            target,
                            username: (!user_id.is_empty()).then_some(user_id),
                        },
                    }
                }
            }
        })
}

/// Cuts `input` at the given points (taken modulo its length, in order).
fn split<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for p in points {
        chunks.push(&input[start..p]);
        start = p;
    }
    chunks.push(&input[start..]);
    chunks
}

fn handshake_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        (
            prop_oneof![Just(4u8), Just(5)],
            proptest::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(v, rest)| cat(&[&[v], &rest])),
        // A valid greeting, then anything.
        proptest::collection::vec(any::<u8>(), 0..64)
            .prop_map(|rest| cat(&[&[5, 1, 0, 5, 1, 0], &rest])),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|rest| cat(&[&[5, 1, 2, 1], &rest])),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_nor_overconsume(
        bytes in handshake_like_bytes(),
        required in any::<bool>(),
    ) {
        let auth = if required { user_pass() } else { Auth::None };
        let mut hs = Handshake::new(auth);
        if let Ok(p) = hs.handle_input(&bytes) {
            prop_assert!(p.consumed <= bytes.len());
            if p.request.is_none() {
                // Waiting for more: a second look at the same bytes changes nothing.
                prop_assert_eq!(hs.handle_input(&bytes[p.consumed..]).unwrap(), Progress::default());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_give_the_same_outcome_however_split(
        bytes in handshake_like_bytes(),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
        required in any::<bool>(),
    ) {
        let auth = || if required { user_pass() } else { Auth::None };
        prop_assert_eq!(drive(auth(), &split(&bytes, &cuts)), whole(auth(), &bytes));
    }

    #[test]
    fn valid_requests_parse_however_split(
        case in case_strategy(),
        trailing in proptest::collection::vec(any::<u8>(), 0..16),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let input = cat(&[&case.input, &trailing]);
        let expected = Outcome {
            wire: case.wire.clone(),
            result: Some(Ok(case.request.clone())),
            leftover: trailing.clone(),
        };
        prop_assert_eq!(&whole(case.auth.clone(), &input), &expected);
        prop_assert_eq!(&drive(case.auth.clone(), &split(&input, &cuts)), &expected);
        // Byte by byte.
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(&drive(case.auth, &bytes), &expected);
    }
}
