//! A downloading engine and a seeding engine fed arbitrary peer traffic and driver
//! events: no panic, and the engine's bookkeeping stays consistent throughout.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use swarmload_core::content::{BLOCK_SIZE, ContentHasher, Hash32};
use swarmload_core::engine::{ContentMeta, Engine, EngineConfig, Event, OriginError, PeerId, Time};

const SIZE: usize = 5 * BLOCK_SIZE as usize + 1000;

fuzz_target!(|data: &[u8]| {
    let content: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    let mut h = ContentHasher::keeping_leaves();
    h.update(&content);
    let (d, leaves) = h.finish_with_leaves();
    let Some(leaves) = leaves else { return };
    let with_root = data.first().is_some_and(|b| b & 1 == 1);
    let meta = ContentMeta {
        sha256: d.sha256,
        size: SIZE as u64,
        root: with_root.then_some(d.root),
        leaves: None,
    };
    let Ok(down) = Engine::download(meta, EngineConfig::default()) else {
        return;
    };
    let Ok(seed) = Engine::seed(d.sha256, SIZE as u64, leaves, EngineConfig::default()) else {
        return;
    };
    for mut engine in [down, seed] {
        let mut now = 0u64;
        let mut rest = data.get(1..).unwrap_or_default();
        engine.handle(Time::ZERO, Event::PeerConnected { peer: PeerId(1) });
        engine.handle(Time::ZERO, Event::PeerConnected { peer: PeerId(2) });
        while rest.len() >= 3 {
            let op = rest[0];
            let len = (u16::from_le_bytes([rest[1], rest[2]]) as usize).min(rest.len() - 3);
            let body = Bytes::copy_from_slice(&rest[3..3 + len]);
            rest = &rest[3 + len..];
            now += (op as u64) * 997;
            let t = Time::from_micros(now);
            let peer = PeerId(1 + (op as u64 & 1));
            let ev = match op % 8 {
                0..=3 => Event::PeerMessage { peer, data: body },
                4 => Event::OriginData {
                    request: op as u64 % 4,
                    offset: u64::from(rest.first().copied().unwrap_or(0)) * 1000,
                    data: body,
                },
                5 => Event::OriginError {
                    request: 1,
                    error: OriginError::Retryable("fuzz".into()),
                },
                6 => Event::BlockRead {
                    block: op as u32 % 7,
                    data: body,
                },
                _ => Event::ContentDigest {
                    sha256: if op & 16 == 0 {
                        d.sha256
                    } else {
                        Hash32([op; 32])
                    },
                },
            };
            engine.handle(t, ev);
            if op % 13 == 0 {
                engine.handle_timeout(Time::from_micros(now + 5_000_000));
            }
            while engine.poll_action().is_some() {}
            if let Err(e) = engine.check_invariants() {
                panic!("{e}");
            }
        }
    }
});
