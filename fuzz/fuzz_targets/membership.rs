//! Swarm membership fed arbitrary tracker messages and driver reports in any order:
//! no panic, never more connections than the cap, a bounded number of actions per
//! step, and after every timeout the next deadline lies ahead (a driver that sleeps
//! until it never spins).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use swarmload_core::engine::Time;
use swarmload_core::membership::{Action, ConnId, MAX_PEERS, Membership, MembershipConfig};
use swarmload_core::tracker_protocol::{self as protocol, Answer, Id20, Offer};

const SWARM: Id20 = Id20([9; 20]);

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let cfg = MembershipConfig {
        trackers: vec!["ws://a.test".into(), "ws://b.test".into()],
        info_hash: SWARM,
        peer_id: Id20([1; 20]),
        upload_enabled: flags & 1 == 1,
        seed: [flags; 32],
    };
    let mut m = Membership::new(cfg, Time::ZERO, flags & 2 == 0);
    let mut now = 0u64;
    let mut conns: Vec<ConnId> = Vec::new();
    while rest.len() >= 3 {
        let (op, a, b) = (rest[0], rest[1], rest[2]);
        rest = &rest[3..];
        now += u64::from(a) * 1_000 * u64::from(op >> 5);
        let t = Time::from_micros(now);
        let tracker = usize::from(b & 1);
        let conn = conns
            .get(usize::from(a) % conns.len().max(1))
            .copied()
            .unwrap_or(ConnId(u64::from(a)));
        let remote = Id20([b % 8; 20]);
        match op % 16 {
            0 => m.tracker_opened(t, tracker),
            1 => m.tracker_closed(t, tracker),
            2 => {
                let n = usize::from(a).min(rest.len());
                let text = String::from_utf8_lossy(&rest[..n]).into_owned();
                rest = &rest[n..];
                m.tracker_text(t, tracker, &text);
            }
            3 => {
                let offer = Offer {
                    offer_id: Id20([a; 20]),
                    offer: json!({"type": "offer", "sdp": "x"}),
                };
                m.tracker_text(
                    t,
                    tracker,
                    &protocol::forwarded_offer(SWARM, remote, &offer),
                );
            }
            4 => {
                let answer = Answer {
                    to_peer_id: Id20([1; 20]),
                    offer_id: Id20([a; 20]),
                    answer: json!({"type": "answer", "sdp": "y"}),
                };
                m.tracker_text(
                    t,
                    tracker,
                    &protocol::forwarded_answer(SWARM, remote, &answer),
                );
            }
            5 => m.tracker_text(
                t,
                tracker,
                &protocol::announce_response(SWARM, u64::from(a), usize::from(b), 1),
            ),
            6 => m.offer_made(t, conn, json!({"type": "offer", "sdp": "z"})),
            7 => m.offer_failed(t, conn),
            8 => m.answer_made(t, conn, json!({"type": "answer", "sdp": "w"})),
            9 => {
                let _ = m.connection_opened(t, conn);
            }
            10 => m.connection_ended(t, conn),
            11 => m.ban(remote),
            12 => m.set_progress(u64::from(a), u64::from(b), 7),
            13 => m.set_completed(t),
            14 => m.leave(t),
            _ => m.handle_timeout(t),
        }
        let mut actions = 0;
        while let Some(action) = m.poll_action() {
            actions += 1;
            match action {
                Action::MakeOffer { conn } | Action::Answer { conn, .. } => conns.push(conn),
                _ => {}
            }
        }
        // Two trackers, a full offer pool, every connection closing at once.
        assert!(
            actions <= 4 * MAX_PEERS + 64,
            "{actions} actions in one step"
        );
        assert!(m.connection_count() <= MAX_PEERS);
        if conns.len() > 4096 {
            conns.drain(..2048);
        }
        if let Some(due) = m.poll_timeout() {
            let at = due.max(t);
            m.handle_timeout(at);
            while m.poll_action().is_some() {}
            if let Some(next) = m.poll_timeout() {
                assert!(next > at, "a deadline left behind at {at:?}: {next:?}");
            }
            now = now.max(at.as_micros());
        }
    }
});
