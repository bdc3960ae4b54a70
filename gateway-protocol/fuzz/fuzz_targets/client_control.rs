//! Decodes arbitrary bytes as the JSON control messages: a [`ClientControl`] the way a gateway
//! reads a client's first text frame (and a sealed `0x02` control frame), and a
//! [`GatewayControl`] the way a client reads its gateway's answers. Checks that nothing panics
//! and that whatever decodes encodes to JSON that decodes to the same value (the same JSON for
//! `ClientControl`, which has no `PartialEq`), also through the sealed control frame.
#![no_main]

use gateway_protocol::{ClientControl, ClientFrame, GatewayControl};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<ClientControl>(data) {
        let json = request.to_json();
        let again: ClientControl = serde_json::from_str(&json).expect("an encoded request decodes");
        assert_eq!(again.to_json(), json, "round trip changed the request");
        let frame = ClientFrame::encode_control(&request);
        match ClientFrame::decode(&frame) {
            Ok(ClientFrame::Control(inner)) => assert_eq!(inner, json.as_bytes()),
            other => panic!("a control frame decoded as {other:?}"),
        }
    }
    if let Ok(answer) = serde_json::from_slice::<GatewayControl>(data) {
        let json = answer.to_json();
        let again: GatewayControl = serde_json::from_str(&json).expect("an encoded answer decodes");
        assert_eq!(again, answer, "round trip changed the answer");
        if let GatewayControl::Error { kind, .. } = answer {
            let _ = (kind.label(), kind.is_fatal());
        }
    }
});
