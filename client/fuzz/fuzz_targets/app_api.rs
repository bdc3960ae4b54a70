//! The native client's app websocket API (`client::api`), what any local app sends it: JSON
//! text frames and binary frames, and the addresses and sender tags inside them. Half the
//! inputs are raw (a text frame as fuzzed UTF-8, a binary frame as fuzzed bytes), half are
//! requests built with `arbitrary` and encoded, so the decoders see both garbage and every
//! field of well-formed requests (JSON escapes, lengths at their limits, keys of any bytes).
//! It checks that:
//!
//! * a JSON request that decodes encodes back to the same request, and
//!   [`AppRequest::from_text`] maps it to what it asks (text payloads, the SURB count, the
//!   sender tag); a request built here always decodes to itself;
//! * a binary frame that decodes re-encodes to exactly its bytes, and
//!   [`AppRequest::from_binary`] maps it to what it asks; one built here decodes to itself;
//! * an address that parses prints as an address that parses to the same keys, and one
//!   printed from any keys parses back to them; the same for sender tags;
//! * the client's answers, as an app decodes them, round-trip too.
#![no_main]

use client::api::{
    decode_sender_tag, encode_sender_tag, AppRequest, BinaryRequest, Request, Response,
};
use client::core::Recipient;
use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// An address as apps write it: a real one from fuzzed keys, or any text.
fn address(u: &mut Unstructured) -> Result<String> {
    if u.arbitrary()? {
        let r = Recipient {
            identity: u.arbitrary()?,
            encryption: u.arbitrary()?,
            gateway: u.arbitrary()?,
        };
        let text = r.to_string();
        assert_eq!(
            text.parse::<Recipient>(),
            Ok(r),
            "a printed address parses back"
        );
        Ok(text)
    } else {
        String::arbitrary(u)
    }
}

/// A sender tag as apps write it: one the client handed out, or any text.
fn sender_tag(u: &mut Unstructured) -> Result<String> {
    if u.arbitrary()? {
        let tag: [u8; 16] = u.arbitrary()?;
        let text = encode_sender_tag(&tag);
        assert_eq!(
            decode_sender_tag(&text),
            Some(tag),
            "a sender tag round-trips"
        );
        Ok(text)
    } else {
        String::arbitrary(u)
    }
}

/// Whatever text an address or tag is, parsing it is stable.
fn check_texts(recipient: &str) {
    if let Ok(r) = recipient.parse::<Recipient>() {
        assert_eq!(r.to_string().parse::<Recipient>(), Ok(r));
    }
    if let Some(tag) = decode_sender_tag(recipient) {
        assert_eq!(decode_sender_tag(&encode_sender_tag(&tag)), Some(tag));
    }
}

/// What the client is asked to do by a JSON request.
fn expected_text(request: &Request) -> AppRequest {
    match request.clone() {
        Request::Send { message, recipient } => AppRequest::Send {
            recipient,
            payload: message.into_bytes(),
            text: true,
            reply_surbs: None,
        },
        Request::SendAnonymous {
            message,
            recipient,
            reply_surbs,
        } => AppRequest::Send {
            recipient,
            payload: message.into_bytes(),
            text: true,
            reply_surbs: Some(reply_surbs),
        },
        Request::Reply {
            message,
            sender_tag,
        } => match decode_sender_tag(&sender_tag) {
            Some(tag) => AppRequest::Reply {
                sender_tag: tag,
                payload: message.into_bytes(),
                text: true,
            },
            None => AppRequest::Invalid(String::new()), // any reason: `same` compares the variant
        },
        Request::SelfAddress => AppRequest::SelfAddress,
    }
}

/// What the client is asked to do by a binary request.
fn expected_binary(request: &BinaryRequest) -> AppRequest {
    match request.clone() {
        BinaryRequest::Send { recipient, payload } => AppRequest::Send {
            recipient,
            payload,
            text: false,
            reply_surbs: None,
        },
        BinaryRequest::SendAnonymous {
            recipient,
            reply_surbs,
            payload,
        } => AppRequest::Send {
            recipient,
            payload,
            text: false,
            reply_surbs: Some(reply_surbs),
        },
        BinaryRequest::Reply {
            sender_tag,
            payload,
        } => AppRequest::Reply {
            sender_tag,
            payload,
            text: false,
        },
    }
}

fn same(got: &AppRequest, want: &AppRequest) {
    match (got, want) {
        (AppRequest::Invalid(_), AppRequest::Invalid(_)) => {}
        _ => assert_eq!(got, want),
    }
}

fn text_frame(text: &str) {
    let decoded = serde_json::from_str::<Request>(text);
    let mapped = AppRequest::from_text(text);
    match decoded {
        Ok(request) => {
            let json = serde_json::to_string(&request).expect("a request serialises");
            assert_eq!(
                serde_json::from_str::<Request>(&json).ok(),
                Some(request.clone())
            );
            same(&mapped, &expected_text(&request));
            if let Request::Send { recipient, .. } | Request::SendAnonymous { recipient, .. } =
                &request
            {
                check_texts(recipient);
            }
        }
        Err(_) => assert!(matches!(mapped, AppRequest::Invalid(_)), "{mapped:?}"),
    }
    // The same text as an answer, as an app reads it.
    if let Ok(response) = serde_json::from_str::<Response>(text) {
        if response != Response::Unknown {
            let again = serde_json::from_str::<Response>(&response.to_json());
            assert_eq!(again.ok(), Some(response));
        }
    }
}

fn binary_frame(frame: &[u8]) {
    let mapped = AppRequest::from_binary(frame);
    match BinaryRequest::decode(frame) {
        Ok(request) => {
            assert_eq!(
                request.encode(),
                frame,
                "a decoded binary request re-encodes exactly"
            );
            same(&mapped, &expected_binary(&request));
            if let BinaryRequest::Send { recipient, .. }
            | BinaryRequest::SendAnonymous { recipient, .. } = &request
            {
                check_texts(recipient);
            }
        }
        Err(_) => assert!(matches!(mapped, AppRequest::Invalid(_)), "{mapped:?}"),
    }
}

fn run(u: &mut Unstructured) -> Result<()> {
    match u.int_in_range(0..=3u8)? {
        0 => {
            let text = <&str>::arbitrary(u)?;
            text_frame(text);
            check_texts(text);
        }
        1 => {
            let len = u.len();
            binary_frame(u.bytes(len)?);
        }
        2 => {
            let message = String::arbitrary(u)?;
            let request = match u.int_in_range(0..=3u8)? {
                0 => Request::Send {
                    message,
                    recipient: address(u)?,
                },
                1 => Request::SendAnonymous {
                    message,
                    recipient: address(u)?,
                    reply_surbs: u.arbitrary()?,
                },
                2 => Request::Reply {
                    message,
                    sender_tag: sender_tag(u)?,
                },
                _ => Request::SelfAddress,
            };
            let json = serde_json::to_string(&request).expect("a request serialises");
            assert_eq!(
                serde_json::from_str::<Request>(&json).ok(),
                Some(request.clone()),
                "{json}"
            );
            same(&AppRequest::from_text(&json), &expected_text(&request));
            text_frame(&json);
        }
        _ => {
            let payload = Vec::<u8>::arbitrary(u)?;
            let request = match u.int_in_range(0..=2u8)? {
                0 => BinaryRequest::Send {
                    recipient: address(u)?,
                    payload,
                },
                1 => BinaryRequest::SendAnonymous {
                    recipient: address(u)?,
                    reply_surbs: u.arbitrary()?,
                    payload,
                },
                _ => BinaryRequest::Reply {
                    sender_tag: u.arbitrary()?,
                    payload,
                },
            };
            let frame = request.encode();
            if let BinaryRequest::Send { recipient, .. }
            | BinaryRequest::SendAnonymous { recipient, .. } = &request
            {
                if recipient.len() > usize::from(u16::MAX) {
                    return Ok(()); // cut on encoding, as documented
                }
            }
            assert_eq!(BinaryRequest::decode(&frame).as_ref(), Ok(&request));
            binary_frame(&frame);
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
