//! How much block traffic one engine moves per second on one core: a downloader with
//! 32 seeds that answer instantly from memory, so the engine (decode, Merkle check of
//! every block, scheduling, bookkeeping) is the only work. Prints one RESULT line.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use swarmload_core::content::{BLOCK_SIZE, ContentHasher};
use swarmload_core::engine::{Action, ContentMeta, Engine, EngineConfig, Event, PeerId, Time};
use swarmload_core::wire::{Handshake, Message};

const PEERS: u64 = 32;

fn main() {
    let size: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(512 << 20);
    let content = Bytes::from(swarmload_core::sim::content(size, 7));
    let mut h = ContentHasher::keeping_leaves();
    h.update(&content);
    let (d, _) = h.finish_with_leaves();
    let pieces = swarmload_core::content::Geometry::new(size).map(|g| g.bitfield_len());
    let Ok(bitfield_len) = pieces else {
        eprintln!("bad size");
        return;
    };
    let num_pieces = swarmload_core::content::Geometry::new(size)
        .map(|g| g.num_pieces())
        .unwrap_or(0);
    let mut bitfield = vec![0xffu8; bitfield_len];
    let spare = bitfield_len as u32 * 8 - num_pieces;
    if let Some(last) = bitfield.last_mut() {
        *last <<= spare;
    }

    // The simulated peers answer with messages encoded up front: their cost is not
    // the engine's.
    let encoded: Vec<Bytes> = content
        .chunks(BLOCK_SIZE as usize)
        .enumerate()
        .map(|(i, c)| {
            Message::Block {
                block: i as u32,
                data: content.slice_ref(c),
            }
            .encode()
        })
        .collect();
    let mut best = f64::INFINITY;
    for _round in 0..3 {
        let meta = ContentMeta {
            sha256: d.sha256,
            size,
            root: Some(d.root),
            leaves: None,
        };
        let cfg = EngineConfig {
            origin_enabled: false,
            ..EngineConfig::default()
        };
        let Ok(mut engine) = Engine::download(meta, cfg) else {
            return;
        };
        // Seeds hold the leaf layer to answer hash requests.
        let mut hh = ContentHasher::keeping_leaves();
        hh.update(&content);
        let leaves = hh.finish_with_leaves().1.unwrap_or_default();
        let tree = swarmload_core::content::MerkleTree::from_leaves(leaves);

        let mut queue: VecDeque<Event> = VecDeque::new();
        for p in 0..PEERS {
            queue.push_back(Event::PeerConnected { peer: PeerId(p) });
            let hs = Message::Handshake(Handshake {
                node_id: 1000 + p,
                info_hash: d.sha256.info_hash(),
                size,
                root: Some(d.root),
                serves_hashes: true,
                bitfield: bitfield.clone(),
            });
            queue.push_back(Event::PeerMessage {
                peer: PeerId(p),
                data: hs.encode(),
            });
        }
        let start = Instant::now();
        let mut now = 0u64;
        let mut done = false;
        let mut blocks = 0u64;
        while !done {
            let Some(ev) = queue.pop_front() else {
                now += 1000;
                engine.handle_timeout(Time::from_micros(now));
                if engine.poll_timeout().is_none() {
                    break;
                }
                continue;
            };
            now += 1;
            engine.handle(Time::from_micros(now), ev);
            while let Some(a) = engine.poll_action() {
                match a {
                    Action::Send { peer, data } => match Message::decode(&data) {
                        Ok(Message::Request { block }) => {
                            blocks += 1;
                            queue.push_back(Event::PeerMessage {
                                peer,
                                data: encoded[block as usize].clone(),
                            });
                        }
                        Ok(Message::HashRequest { index, count }) => {
                            if let Ok((hashes, uncles)) = tree.proof(index, count) {
                                let msg = Message::Hashes {
                                    index,
                                    count,
                                    hashes,
                                    uncles,
                                };
                                queue.push_back(Event::PeerMessage {
                                    peer,
                                    data: msg.encode(),
                                });
                            }
                        }
                        _ => {}
                    },
                    Action::VerifyContent => {
                        // The driver's whole-file check is not the engine's work.
                        queue.push_back(Event::ContentDigest { sha256: d.sha256 });
                    }
                    Action::Completed => done = true,
                    _ => {}
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        assert!(done, "engine did not complete");
        assert!(blocks >= size / BLOCK_SIZE as u64);
        best = best.min(secs);
    }
    let gbps = size as f64 / best / 1e9;
    println!(
        "RESULT engine {gbps:.2} GB/s ({} MiB through one engine from {PEERS} peers in {best:.3} s, one core)",
        size >> 20
    );
}
