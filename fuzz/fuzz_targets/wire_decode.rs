//! The peer wire decoder on arbitrary bytes: never panics, and whatever it accepts
//! re-encodes to a message that decodes to the same value.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use swarmload_core::wire::{MAX_MESSAGE_LEN, Message};

fuzz_target!(|data: &[u8]| {
    let buf = Bytes::copy_from_slice(data);
    if let Ok(msg) = Message::decode(&buf) {
        let again = msg.encode();
        assert!(again.len() <= MAX_MESSAGE_LEN);
        assert_eq!(Message::decode(&again).as_ref(), Ok(&msg));
    }
});
