//! Resuming a download from blocks an earlier run stored, and downloads whose SHA-256
//! no trusted source gives: the engine against a hand-driven origin.

use std::ops::Range;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use swarmload_core::content::{BLOCK_SIZE, ContentHasher, Hash32, MerkleTree, hash_block};
use swarmload_core::engine::{
    Action, ContentMeta, DisconnectReason, Engine, EngineConfig, EngineState, Event, PeerId, Time,
};

const BLOCKS: u32 = 40;
const SIZE: usize = BLOCKS as usize * BLOCK_SIZE as usize - 777;

struct Content {
    bytes: Vec<u8>,
    sha256: Hash32,
    tree: MerkleTree,
}

fn content() -> Content {
    let bytes: Vec<u8> = (0..SIZE).map(|i| (i * 31 + i / 4099) as u8).collect();
    let mut h = ContentHasher::keeping_leaves();
    h.update(&bytes);
    let (d, leaves) = h.finish_with_leaves();
    Content {
        bytes,
        sha256: d.sha256,
        tree: MerkleTree::from_leaves(leaves.unwrap_or_default()),
    }
}

fn block_range(b: u32) -> Range<usize> {
    let start = b as usize * BLOCK_SIZE as usize;
    start..(start + BLOCK_SIZE as usize).min(SIZE)
}

/// What one run did: the origin ranges it fetched and how it ended.
struct Run {
    fetched: Vec<Range<u64>>,
    written: Vec<u32>,
    /// Blocks written without a computed leaf.
    lazy: usize,
    end: Option<Action>,
    store: Vec<u8>,
}

/// Serves every origin request from `origin` (which may differ from the content the
/// engine expects) and answers the final check with the stored bytes' digest.
fn run_to_end(e: &mut Engine, origin: &[u8], mut store: Vec<u8>) -> Run {
    let mut run = Run {
        fetched: Vec::new(),
        written: Vec::new(),
        lazy: 0,
        end: None,
        store: Vec::new(),
    };
    let mut t = 1;
    let mut pending = vec![];
    e.handle_timeout(Time::from_millis(t));
    loop {
        for a in std::iter::from_fn(|| e.poll_action()) {
            match a {
                Action::FetchOrigin { request, range } => {
                    run.fetched.push(range.clone());
                    pending.push(Event::OriginData {
                        request,
                        offset: range.start,
                        data: Bytes::copy_from_slice(
                            &origin[range.start as usize..range.end as usize],
                        ),
                    });
                }
                Action::Write {
                    block,
                    offset,
                    data,
                    leaf,
                } => {
                    if let Some(leaf) = leaf {
                        assert_eq!(leaf, hash_block(&data), "the leaf names the written bytes");
                    }
                    run.lazy += usize::from(leaf.is_none());
                    run.written.push(block);
                    store[offset as usize..offset as usize + data.len()].copy_from_slice(&data);
                }
                Action::VerifyContent => pending.push(Event::ContentDigest {
                    sha256: Hash32(Sha256::digest(&store).into()),
                }),
                a @ (Action::Completed | Action::Failed { .. }) => {
                    run.end = Some(a);
                    run.store = store;
                    return run;
                }
                _ => {}
            }
        }
        if pending.is_empty() {
            t += 1000;
            e.handle_timeout(Time::from_millis(t));
            assert!(t < 600_000, "the download neither completed nor failed");
            continue;
        }
        t += 1;
        for ev in pending.drain(..) {
            e.handle(Time::from_millis(t), ev);
        }
    }
}

fn origin_only() -> EngineConfig {
    EngineConfig {
        origin_connections: 2,
        ..EngineConfig::default()
    }
}

fn fetched_blocks(run: &Run) -> Vec<u32> {
    let mut blocks: Vec<u32> = run
        .fetched
        .iter()
        .flat_map(|r| {
            (r.start / BLOCK_SIZE as u64) as u32..r.end.div_ceil(BLOCK_SIZE as u64) as u32
        })
        .collect();
    blocks.sort_unstable();
    blocks
}

#[test]
fn a_resumed_download_fetches_only_the_blocks_it_lacks() {
    let c = content();
    for trusted_root in [false, true] {
        let meta = ContentMeta {
            sha256: c.sha256,
            size: SIZE as u64,
            root: trusted_root.then(|| c.tree.root()),
            leaves: None,
        };
        let mut e = Engine::download(meta, origin_only()).unwrap();
        let held: Vec<u32> = (0..10).chain(17..25).chain([BLOCKS - 1]).collect();
        let mut store = vec![0u8; SIZE];
        for &b in &held {
            store[block_range(b)].copy_from_slice(&c.bytes[block_range(b)]);
        }
        let taken = e.restore_blocks(
            held.iter()
                .map(|&b| (b, Some(hash_block(&c.bytes[block_range(b)])))),
        );
        assert_eq!(taken, held.len() as u32);
        assert_eq!(e.stats().blocks_have, held.len() as u32);
        let run = run_to_end(&mut e, &c.bytes, store);
        assert_eq!(run.end, Some(Action::Completed));
        assert_eq!(run.store, c.bytes);
        let wanted: Vec<u32> = (0..BLOCKS).filter(|b| !held.contains(b)).collect();
        assert_eq!(
            fetched_blocks(&run),
            wanted,
            "only missing blocks are fetched"
        );
        assert_eq!(
            e.stats().bytes_from_origin,
            wanted
                .iter()
                .map(|&b| block_range(b).len() as u64)
                .sum::<u64>()
        );
    }
}

#[test]
fn restored_blocks_that_contradict_a_trusted_leaf_layer_are_fetched_again() {
    let c = content();
    let meta = ContentMeta {
        sha256: c.sha256,
        size: SIZE as u64,
        root: None,
        leaves: Some(c.tree.leaves().to_vec()),
    };
    let mut e = Engine::download(meta, origin_only()).unwrap();
    let good = (0..5).map(|b| (b, Some(hash_block(&c.bytes[block_range(b)]))));
    let bad = (5..8).map(|b| (b, Some(Hash32([b as u8; 32]))));
    // Out-of-range and repeated entries from a damaged record are ignored.
    let junk = [(BLOCKS, Some(Hash32([0; 32]))), (0, Some(Hash32([1; 32])))];
    assert_eq!(e.restore_blocks(good.chain(bad).chain(junk)), 5);
    let mut store = vec![0u8; SIZE];
    store[..5 * BLOCK_SIZE as usize].copy_from_slice(&c.bytes[..5 * BLOCK_SIZE as usize]);
    let run = run_to_end(&mut e, &c.bytes, store);
    assert_eq!(run.end, Some(Action::Completed));
    assert_eq!(fetched_blocks(&run), (5..BLOCKS).collect::<Vec<_>>());
}

#[test]
fn a_download_restored_whole_goes_straight_to_the_final_check() {
    let c = content();
    let meta = ContentMeta {
        sha256: c.sha256,
        size: SIZE as u64,
        root: None,
        leaves: None,
    };
    let mut e = Engine::download(meta, origin_only()).unwrap();
    let all = (0..BLOCKS).map(|b| (b, Some(hash_block(&c.bytes[block_range(b)]))));
    assert_eq!(e.restore_blocks(all), BLOCKS);
    assert_eq!(e.state(), EngineState::Verifying);
    let run = run_to_end(&mut e, &c.bytes, c.bytes.clone());
    assert_eq!(run.end, Some(Action::Completed));
    assert!(run.fetched.is_empty());
    assert_eq!(e.leaf_layer(), Some(c.tree.leaves()));
}

#[test]
fn an_unverified_download_learns_its_digest_and_takes_no_peer() {
    let c = content();
    let mut e = Engine::download_unverified(SIZE as u64, origin_only()).unwrap();
    assert_eq!(e.sha256(), None);
    assert_eq!(e.info_hash(), None);
    e.handle(Time::ZERO, Event::PeerConnected { peer: PeerId(3) });
    let refused = std::iter::from_fn(|| e.poll_action()).any(|a| {
        matches!(
            a,
            Action::Disconnect {
                peer: PeerId(3),
                reason: DisconnectReason::WrongContent
            }
        )
    });
    assert!(refused, "a peer cannot join a download nothing names");
    let run = run_to_end(&mut e, &c.bytes, vec![0u8; SIZE]);
    assert_eq!(run.end, Some(Action::Completed));
    assert_eq!(run.store, c.bytes);
    assert_eq!(e.sha256(), Some(c.sha256));
    assert_eq!(e.info_hash(), Some(c.sha256.info_hash()));
    assert_eq!(e.state(), EngineState::Seeding);
    assert_eq!(run.written.len(), BLOCKS as usize);
}

#[test]
fn a_digest_learned_mid_download_admits_peers_and_gates_the_whole() {
    let c = content();
    let mut e = Engine::download_unverified(SIZE as u64, origin_only()).unwrap();
    assert!(e.learn_digest(c.sha256));
    assert_eq!(e.info_hash(), Some(c.sha256.info_hash()));
    assert!(e.learn_digest(c.sha256), "the same digest again is fine");
    assert!(!e.learn_digest(Hash32([7; 32])), "another one is not");
    e.handle(Time::ZERO, Event::PeerConnected { peer: PeerId(3) });
    // The first word to the peer is a handshake, not a refusal (other actions, such
    // as origin fetches, stay queued for the run below).
    let first = std::iter::from_fn(|| e.poll_action())
        .find(|a| matches!(a, Action::Send { .. } | Action::Disconnect { .. }));
    assert!(
        matches!(
            first,
            Some(Action::Send {
                peer: PeerId(3),
                ..
            })
        ),
        "a peer of the swarm the digest names may join: {first:?}"
    );
    e.handle(Time::ZERO, Event::PeerGone { peer: PeerId(3) });
    let run = run_to_end(&mut e, &c.bytes, vec![0u8; SIZE]);
    assert_eq!(run.end, Some(Action::Completed));
    assert_eq!(run.store, c.bytes);

    // Content that does not match the learned digest fails, as with any trusted one.
    let mut e = Engine::download_unverified(SIZE as u64, origin_only()).unwrap();
    assert!(e.learn_digest(Hash32([9; 32])));
    let run = run_to_end(&mut e, &c.bytes, vec![0u8; SIZE]);
    assert!(
        matches!(run.end, Some(Action::Failed { .. })),
        "{:?}",
        run.end
    );
    // Once over, a download takes no new digest.
    assert!(!e.learn_digest(c.sha256));
}

#[test]
fn a_lazy_origin_only_download_hashes_nothing_but_the_whole() {
    let c = content();
    let meta = ContentMeta {
        sha256: c.sha256,
        size: SIZE as u64,
        root: None,
        leaves: None,
    };
    let cfg = EngineConfig {
        lazy_leaves: true,
        ..origin_only()
    };
    let mut e = Engine::download(meta.clone(), cfg.clone()).unwrap();
    let run = run_to_end(&mut e, &c.bytes, vec![0u8; SIZE]);
    assert_eq!(run.end, Some(Action::Completed));
    assert_eq!(run.store, c.bytes);
    assert_eq!(run.lazy, BLOCKS as usize, "no block was hashed on its own");
    assert_eq!(
        e.leaf_layer(),
        None,
        "the leaf layer is unknown, not made up"
    );
    assert_eq!(e.state(), EngineState::Seeding);

    // Resumed from blocks recorded without leaves, it still finishes.
    let mut e = Engine::download(meta.clone(), cfg.clone()).unwrap();
    assert_eq!(e.restore_blocks((0..20).map(|b| (b, None))), 20);
    let mut store = vec![0u8; SIZE];
    store[..20 * BLOCK_SIZE as usize].copy_from_slice(&c.bytes[..20 * BLOCK_SIZE as usize]);
    let run = run_to_end(&mut e, &c.bytes, store);
    assert_eq!(run.end, Some(Action::Completed));
    assert_eq!(fetched_blocks(&run), (20..BLOCKS).collect::<Vec<_>>());

    // A wrong byte among the lazily kept blocks is still caught by the final gate.
    let mut e = Engine::download(meta, cfg).unwrap();
    let mut origin = c.bytes.clone();
    origin[5] ^= 1;
    let run = run_to_end(&mut e, &origin, vec![0u8; SIZE]);
    assert!(matches!(run.end, Some(Action::Failed { .. })));
}
