//! The engine against a hand-driven peer: what it sends, and how it answers
//! malformed, out-of-place and hostile messages (a typed disconnect, never a panic).

use bytes::Bytes;
use swarmload_core::content::{BLOCK_SIZE, ContentHasher, Hash32, MerkleTree, hash_block};
use swarmload_core::engine::{
    Action, ContentMeta, DisconnectReason, Engine, EngineConfig, EngineState, Event, PeerId, Time,
};
use swarmload_core::wire::{GoodbyeReason, Handshake, Message, RejectReason};

const SIZE: usize = 10 * BLOCK_SIZE as usize + 123;
const PEER: PeerId = PeerId(7);

struct Fixture {
    content: Vec<u8>,
    sha256: Hash32,
    tree: MerkleTree,
}

fn fixture() -> Fixture {
    let content: Vec<u8> = (0..SIZE).map(|i| (i * 13 + i / 999) as u8).collect();
    let mut h = ContentHasher::keeping_leaves();
    h.update(&content);
    let (d, leaves) = h.finish_with_leaves();
    Fixture {
        content,
        sha256: d.sha256,
        tree: MerkleTree::from_leaves(leaves.unwrap_or_default()),
    }
}

fn downloader(f: &Fixture, trusted_root: bool) -> Engine {
    let meta = ContentMeta {
        sha256: f.sha256,
        size: SIZE as u64,
        root: trusted_root.then(|| f.tree.root()),
        leaves: None,
    };
    let cfg = EngineConfig {
        origin_enabled: false,
        ..EngineConfig::default()
    };
    Engine::download(meta, cfg).unwrap()
}

fn seeder(f: &Fixture) -> Engine {
    Engine::seed(
        f.sha256,
        SIZE as u64,
        f.tree.leaves().to_vec(),
        EngineConfig::default(),
    )
    .unwrap()
}

fn handshake(f: &Fixture, full: bool) -> Message {
    Message::Handshake(Handshake {
        node_id: 99,
        info_hash: f.sha256.info_hash(),
        size: SIZE as u64,
        root: Some(f.tree.root()),
        serves_hashes: full,
        bitfield: vec![if full { 0xff } else { 0 }, if full { 0xe0 } else { 0 }],
    })
}

fn drain(e: &mut Engine) -> Vec<Action> {
    std::iter::from_fn(|| e.poll_action()).collect()
}

fn sent(actions: &[Action]) -> Vec<Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { peer, data } if *peer == PEER => Message::decode(data).ok(),
            _ => None,
        })
        .collect()
}

fn feed(e: &mut Engine, t: u64, msg: &Message) -> Vec<Action> {
    e.handle(
        Time::from_millis(t),
        Event::PeerMessage {
            peer: PEER,
            data: msg.encode(),
        },
    );
    drain(e)
}

fn connect(e: &mut Engine) -> Vec<Action> {
    e.handle(Time::ZERO, Event::PeerConnected { peer: PEER });
    drain(e)
}

/// A downloader that has met a full seed and holds the proofs of the first blocks.
fn ready_downloader(f: &Fixture) -> Engine {
    let mut e = downloader(f, true);
    connect(&mut e);
    feed(&mut e, 1, &handshake(f, true));
    let (hashes, uncles) = f.tree.proof(0, 16).unwrap();
    feed(
        &mut e,
        2,
        &Message::Hashes {
            index: 0,
            count: 16,
            hashes,
            uncles,
        },
    );
    e
}

fn disconnect_reason(actions: &[Action]) -> Option<&DisconnectReason> {
    actions.iter().find_map(|a| match a {
        Action::Disconnect { peer, reason } if *peer == PEER => Some(reason),
        _ => None,
    })
}

#[test]
fn greets_with_a_handshake_then_asks_for_blocks_it_can_verify() {
    let f = fixture();
    let mut e = downloader(&f, true);
    let first = sent(&connect(&mut e));
    let Some(Message::Handshake(hs)) = first.first() else {
        panic!("expected a handshake, got {first:?}");
    };
    assert_eq!(hs.info_hash, f.sha256.info_hash());
    assert_eq!(hs.size, SIZE as u64);
    assert_eq!(hs.root, Some(f.tree.root()), "a trusted root is announced");
    assert_eq!(hs.bitfield, vec![0, 0]);
    let out = sent(&feed(&mut e, 1, &handshake(&f, true)));
    // A trusted root but no leaves yet: the first thing needed is a proof.
    assert!(
        out.iter().any(|m| matches!(
            m,
            Message::HashRequest {
                index: 0,
                count: 16
            }
        )),
        "{out:?}"
    );
    let (hashes, uncles) = f.tree.proof(0, 16).unwrap();
    let out = sent(&feed(
        &mut e,
        2,
        &Message::Hashes {
            index: 0,
            count: 16,
            hashes,
            uncles,
        },
    ));
    let requested: Vec<u32> = out
        .iter()
        .filter_map(|m| match m {
            Message::Request { block } => Some(*block),
            _ => None,
        })
        .collect();
    assert!(!requested.is_empty());
    assert_eq!(requested[0], 0, "in order first");
}

#[test]
fn malformed_and_out_of_place_messages_close_with_a_typed_reason() {
    let f = fixture();
    let cases: Vec<(Bytes, &str)> = vec![
        (Bytes::from_static(&[0xff]), "unknown message type"),
        (Bytes::new(), "empty message"),
        (Message::Request { block: 0 }.encode(), "before handshake"),
        (Bytes::from_static(&[0x01, 0, 0]), "ends early"),
    ];
    for (data, why) in cases {
        let mut e = downloader(&f, true);
        connect(&mut e);
        e.handle(Time::ZERO, Event::PeerMessage { peer: PEER, data });
        let out = drain(&mut e);
        match disconnect_reason(&out) {
            Some(DisconnectReason::ProtocolError(text)) => {
                assert!(text.contains(why), "{text:?} should mention {why:?}")
            }
            other => panic!("{why}: {other:?}"),
        }
        let goodbye = sent(&out);
        assert!(goodbye.contains(&Message::Goodbye {
            reason: GoodbyeReason::ProtocolError
        }));
        assert_eq!(e.stats().peers_connected, 0);
    }
}

#[test]
fn another_file_or_a_bad_bitfield_is_refused() {
    let f = fixture();
    let mut e = downloader(&f, true);
    connect(&mut e);
    let mut other = handshake(&f, true);
    if let Message::Handshake(h) = &mut other {
        h.size += 1;
    }
    assert_eq!(
        disconnect_reason(&feed(&mut e, 1, &other)),
        Some(&DisconnectReason::WrongContent)
    );

    let mut e = downloader(&f, true);
    connect(&mut e);
    let mut spare_bit = handshake(&f, true);
    if let Message::Handshake(h) = &mut spare_bit {
        h.bitfield = vec![0xff, 0xf0];
    }
    assert!(matches!(
        disconnect_reason(&feed(&mut e, 1, &spare_bit)),
        Some(DisconnectReason::ProtocolError(_))
    ));
}

#[test]
fn a_forged_block_bans_its_sender_and_is_never_written() {
    let f = fixture();
    let mut e = ready_downloader(&f);
    let mut forged = f.content[..BLOCK_SIZE as usize].to_vec();
    forged[100] ^= 1;
    let out = feed(
        &mut e,
        3,
        &Message::Block {
            block: 0,
            data: Bytes::from(forged),
        },
    );
    assert!(matches!(
        disconnect_reason(&out),
        Some(DisconnectReason::Banned(_))
    ));
    assert!(!out.iter().any(|a| matches!(a, Action::Write { .. })));
    assert!(e.is_banned(PEER));
    assert_eq!(e.stats().bad_blocks, 1);
    // It may not come back.
    e.handle(Time::from_millis(4), Event::PeerConnected { peer: PEER });
    assert_eq!(
        disconnect_reason(&drain(&mut e)),
        Some(&DisconnectReason::Refused)
    );
}

#[test]
fn a_bad_proof_bans_and_a_good_block_is_written_verified() {
    let f = fixture();
    let mut e = downloader(&f, true);
    connect(&mut e);
    feed(&mut e, 1, &handshake(&f, true));
    let (mut hashes, uncles) = f.tree.proof(0, 16).unwrap();
    hashes[3].0[0] ^= 1;
    let out = feed(
        &mut e,
        2,
        &Message::Hashes {
            index: 0,
            count: 16,
            hashes,
            uncles,
        },
    );
    assert!(matches!(
        disconnect_reason(&out),
        Some(DisconnectReason::Banned(why)) if why.contains("proof")
    ));

    let mut e = ready_downloader(&f);
    let data = Bytes::copy_from_slice(&f.content[..BLOCK_SIZE as usize]);
    let out = feed(
        &mut e,
        3,
        &Message::Block {
            block: 0,
            data: data.clone(),
        },
    );
    let leaf = hash_block(&data);
    assert!(out.contains(&Action::Write {
        block: 0,
        offset: 0,
        data,
        leaf: Some(leaf)
    }));
    assert!(e.has_block(0));
}

#[test]
fn a_seeder_serves_verified_blocks_and_rejects_what_it_cannot() {
    let f = fixture();
    let mut s = seeder(&f);
    connect(&mut s);
    feed(&mut s, 1, &handshake(&f, false));
    let out = feed(&mut s, 2, &Message::Request { block: 3 });
    let read = out.iter().find_map(|a| match a {
        Action::ReadBlock { block, offset, len } => Some((*block, *offset, *len)),
        _ => None,
    });
    assert_eq!(read, Some((3, 3 * BLOCK_SIZE as u64, BLOCK_SIZE)));
    let good = Bytes::copy_from_slice(&f.content[3 * BLOCK_SIZE as usize..4 * BLOCK_SIZE as usize]);
    s.handle(
        Time::from_millis(3),
        Event::BlockRead {
            block: 3,
            data: good.clone(),
        },
    );
    assert!(sent(&drain(&mut s)).contains(&Message::Block {
        block: 3,
        data: good
    }));

    // The file changed on disk: the block is refused, not served.
    feed(&mut s, 4, &Message::Request { block: 4 });
    let bad = Bytes::from(vec![0u8; BLOCK_SIZE as usize]);
    s.handle(
        Time::from_millis(5),
        Event::BlockRead {
            block: 4,
            data: bad,
        },
    );
    let out = sent(&drain(&mut s));
    assert!(out.contains(&Message::Reject {
        block: 4,
        reason: RejectReason::NotHeld
    }));
    assert!(!out.iter().any(|m| matches!(m, Message::Block { .. })));
    let out = sent(&feed(&mut s, 6, &Message::Request { block: 4 }));
    assert!(out.contains(&Message::Reject {
        block: 4,
        reason: RejectReason::NotHeld
    }));

    // Past the end of the file is a protocol error.
    let out = feed(&mut s, 7, &Message::Request { block: 11 });
    assert!(matches!(
        disconnect_reason(&out),
        Some(DisconnectReason::ProtocolError(_))
    ));
}

#[test]
fn a_seeder_answers_hash_requests_with_valid_proofs() {
    let f = fixture();
    let mut s = seeder(&f);
    connect(&mut s);
    feed(&mut s, 1, &handshake(&f, false));
    let out = sent(&feed(
        &mut s,
        2,
        &Message::HashRequest { index: 8, count: 8 },
    ));
    let Some(Message::Hashes {
        index,
        count,
        hashes,
        uncles,
    }) = out.first()
    else {
        panic!("{out:?}");
    };
    assert_eq!(hashes.len(), 3, "only real leaves are sent");
    swarmload_core::content::verify_leaf_range(&f.tree.root(), 11, *index, *count, hashes, uncles)
        .unwrap();
    // A range past the tree is refused, not answered with garbage.
    let out = sent(&feed(
        &mut s,
        3,
        &Message::HashRequest {
            index: 32,
            count: 32,
        },
    ));
    assert_eq!(
        out,
        vec![Message::HashReject {
            index: 32,
            count: 32
        }]
    );
}

#[test]
fn upload_disabled_rejects_every_request() {
    let f = fixture();
    let cfg = EngineConfig {
        upload_enabled: false,
        ..EngineConfig::default()
    };
    let mut s = Engine::seed(f.sha256, SIZE as u64, f.tree.leaves().to_vec(), cfg).unwrap();
    connect(&mut s);
    feed(&mut s, 1, &handshake(&f, false));
    let out = sent(&feed(&mut s, 2, &Message::Request { block: 0 }));
    assert_eq!(
        out,
        vec![Message::Reject {
            block: 0,
            reason: RejectReason::UploadDisabled
        }]
    );
}

#[test]
fn a_wrong_final_digest_from_the_origin_alone_fails_visibly() {
    let f = fixture();
    let meta = ContentMeta {
        sha256: Hash32([7; 32]),
        size: SIZE as u64,
        root: None,
        leaves: None,
    };
    let mut e = Engine::download(meta, EngineConfig::default()).unwrap();
    e.handle_timeout(Time::ZERO);
    let mut now = 0;
    let mut delivered = 0;
    let mut failure = None;
    for _ in 0..100 {
        let actions = drain(&mut e);
        if actions.is_empty() {
            break;
        }
        for a in actions {
            now += 1;
            match a {
                Action::FetchOrigin { request, range } => e.handle(
                    Time::from_millis(now),
                    Event::OriginData {
                        request,
                        offset: range.start,
                        data: Bytes::copy_from_slice(
                            &f.content[range.start as usize..range.end as usize],
                        ),
                    },
                ),
                Action::VerifyContent => e.handle(
                    Time::from_millis(now),
                    Event::ContentDigest { sha256: f.sha256 },
                ),
                Action::Deliverable { upto } => delivered = upto,
                Action::Failed { reason } => failure = Some(reason),
                Action::Completed => panic!("completed with the wrong digest"),
                _ => {}
            }
        }
    }
    assert_eq!(e.state(), EngineState::Failed);
    assert!(matches!(
        failure,
        Some(swarmload_core::engine::FailReason::DigestMismatch { .. })
    ));
    assert!(
        delivered < SIZE as u64,
        "the last block was never deliverable"
    );
    assert_eq!(delivered, 10 * BLOCK_SIZE as u64);
}

#[test]
fn a_root_announced_after_the_handshake_lets_the_download_start() {
    let f = fixture();
    let mut e = downloader(&f, false);
    connect(&mut e);
    let mut hs = handshake(&f, true);
    if let Message::Handshake(h) = &mut hs {
        h.root = None;
        h.serves_hashes = false;
    }
    let out = sent(&feed(&mut e, 1, &hs));
    assert!(
        !out.iter()
            .any(|m| matches!(m, Message::HashRequest { .. } | Message::Request { .. })),
        "no root yet, so nothing can be verified: {out:?}"
    );
    let out = sent(&feed(
        &mut e,
        2,
        &Message::Root {
            root: f.tree.root(),
            serves_hashes: true,
        },
    ));
    assert!(
        out.iter()
            .any(|m| matches!(m, Message::HashRequest { index: 0, .. })),
        "{out:?}"
    );
    assert_eq!(e.root().map(|(r, _)| r), Some(f.tree.root()));
}
