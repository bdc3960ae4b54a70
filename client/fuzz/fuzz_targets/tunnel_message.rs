//! Decodes arbitrary bytes as a tunnel message (what a network requester or a SOCKS5 client
//! receives from the mixnet) and checks that nothing panics and that whatever decodes encodes
//! back to a message that decodes the same; then feeds a decoded data message into a stream
//! state, which must refuse or hold it without panicking.
#![no_main]

use client::socks::message::Message;
use client::socks::stream::Stream;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = Message::decode(data) else {
        return;
    };
    let again = Message::decode(&message.encode()).expect("an encoded message decodes");
    assert_eq!(again, message);
    if let Message::Data {
        seq, close, data, ..
    } = message
    {
        let mut stream = Stream::new(4096, 4096);
        if stream.handle_data(seq, data, close).is_ok() {
            while let Some(chunk) = stream.poll_chunk() {
                stream.handle_consumed(chunk.data.len() as u64);
            }
        }
    }
});
