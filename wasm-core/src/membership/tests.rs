//! Membership with time passed in: one machine against scripted tracker messages,
//! and machines that meet through a small relay that forwards offers and answers as
//! a WebTorrent tracker does.

use std::collections::HashMap;

use serde_json::json;

use super::*;
use crate::tracker_protocol::{self as protocol, Request};

fn at(ms: u64) -> Time {
    Time::from_millis(ms)
}

fn id(b: u8) -> Id20 {
    Id20([b; 20])
}

const SWARM: Id20 = Id20([9; 20]);

fn config(me: u8, trackers: usize) -> MembershipConfig {
    MembershipConfig {
        trackers: (0..trackers).map(|i| format!("ws://t{i}.test")).collect(),
        info_hash: SWARM,
        peer_id: id(me),
        upload_enabled: true,
        seed: [me; 32],
    }
}

fn drain(m: &mut Membership) -> Vec<Action> {
    std::iter::from_fn(|| m.poll_action()).collect()
}

fn sdp(tag: &str) -> Value {
    json!({"type": "offer", "sdp": tag})
}

/// Makes every offer asked for in `actions`; returns the rest.
fn make_offers(m: &mut Membership, now: Time, actions: Vec<Action>) -> Vec<Action> {
    let mut rest = Vec::new();
    for a in actions {
        match a {
            Action::MakeOffer { conn } => m.offer_made(now, conn, sdp(&format!("{}", conn.0))),
            other => rest.push(other),
        }
    }
    rest.extend(drain(m));
    rest
}

fn announces(actions: &[Action]) -> Vec<(TrackerIx, serde_json::Value)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendTracker { tracker, text } => {
                Some((*tracker, serde_json::from_str(text).unwrap()))
            }
            _ => None,
        })
        .collect()
}

fn offers_in(v: &serde_json::Value) -> usize {
    v["offers"].as_array().map_or(0, Vec::len)
}

/// A machine with its trackers open and its first announces made and answered
/// with `interval` seconds.
fn joined(me: u8, trackers: usize) -> Membership {
    let mut m = Membership::new(config(me, trackers), at(0), true);
    let first = drain(&mut m);
    make_offers(&mut m, at(0), first);
    for t in 0..trackers {
        m.tracker_opened(at(0), t);
    }
    drain(&mut m);
    m
}

#[test]
fn joining_connects_every_tracker_and_makes_offers_ahead() {
    let mut m = Membership::new(config(1, 2), at(0), true);
    let actions = drain(&mut m);
    let connects: Vec<_> = actions
        .iter()
        .filter(|a| matches!(a, Action::ConnectTracker { .. }))
        .collect();
    assert_eq!(connects.len(), 2);
    let offers = actions
        .iter()
        .filter(|a| matches!(a, Action::MakeOffer { .. }))
        .count();
    assert_eq!(offers, OFFERS_PER_ANNOUNCE + SPARE_OFFERS);
}

#[test]
fn a_tracker_that_opens_before_the_offers_are_made_hears_started_then_the_offers() {
    let mut m = Membership::new(config(1, 1), at(0), true);
    let made = drain(&mut m);
    m.tracker_opened(at(10), 0);
    let first = announces(&drain(&mut m));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].1["event"], "started");
    assert_eq!(offers_in(&first[0].1), 0);
    // The offers arrive: the same tracker gets them in one more announce.
    let rest = make_offers(&mut m, at(300), made);
    let second = announces(&rest);
    assert_eq!(second.len(), 1, "{rest:?}");
    assert_eq!(offers_in(&second[0].1), OFFERS_PER_ANNOUNCE);
    assert!(second[0].1.get("event").is_none());
}

#[test]
fn offers_made_ahead_go_out_with_the_first_announce() {
    let mut m = Membership::new(config(1, 1), at(0), true);
    let made = drain(&mut m);
    make_offers(&mut m, at(0), made);
    m.tracker_opened(at(200), 0);
    let a = announces(&drain(&mut m));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].1["event"], "started");
    assert_eq!(offers_in(&a[0].1), OFFERS_PER_ANNOUNCE);
    // Spare offers stay ready, and the pool is filled again.
}

#[test]
fn announces_follow_the_trackers_interval_and_come_sooner_while_alone() {
    // Seeding: the tracker's interval, never below the minimum.
    let mut m = Membership::new(config(1, 1), at(0), false);
    let made = drain(&mut m);
    make_offers(&mut m, at(0), made);
    m.tracker_opened(at(0), 0);
    drain(&mut m);
    // The next announce is timed from the last one (at 0).
    m.tracker_text(at(100), 0, &protocol::announce_response(SWARM, 30, 1, 0));
    drain(&mut m);
    m.handle_timeout(at(29_999));
    assert!(announces(&drain(&mut m)).is_empty());
    m.handle_timeout(at(30_000));
    assert_eq!(announces(&drain(&mut m)).len(), 1);
    m.tracker_text(at(30_200), 0, &protocol::announce_response(SWARM, 1, 1, 0));
    m.handle_timeout(at(30_000 + 4_999));
    assert!(
        announces(&drain(&mut m)).is_empty(),
        "below the minimum interval"
    );
    m.handle_timeout(at(30_000 + 5_000));
    assert_eq!(announces(&drain(&mut m)).len(), 1);
    // Without an interval from the tracker: the default.
    let mut m = Membership::new(config(3, 1), at(0), false);
    m.tracker_opened(at(0), 0);
    drain(&mut m);
    m.handle_timeout(at(0) + (DEFAULT_INTERVAL - Duration::from_millis(1)));
    assert!(announces(&drain(&mut m)).is_empty());
    m.handle_timeout(at(0) + DEFAULT_INTERVAL);
    assert_eq!(announces(&drain(&mut m)).len(), 1);

    // Downloading with no peer: every few seconds, whatever the interval.
    let mut m = joined(2, 1);
    m.tracker_text(at(0), 0, &protocol::announce_response(SWARM, 600, 0, 1));
    m.handle_timeout(at(0));
    drain(&mut m);
    let next = m.poll_timeout().unwrap();
    m.handle_timeout(next);
    let acts = drain(&mut m);
    let a = announces(&make_offers(&mut m, next, acts));
    assert!(!a.is_empty());
    assert!(next <= at(0) + LONELY_INTERVAL, "{next:?}");
}

#[test]
fn an_unreachable_tracker_is_retried_with_a_doubling_backoff() {
    let mut m = Membership::new(config(1, 1), at(0), true);
    drain(&mut m);
    let mut now = at(0);
    let mut waits = Vec::new();
    for _ in 0..10 {
        m.tracker_closed(now, 0);
        drain(&mut m);
        // Step through every deadline (the offers' too) to the reconnect.
        let connect_at = loop {
            let t = m.poll_timeout().expect("a retry is due");
            m.handle_timeout(t);
            if drain(&mut m)
                .iter()
                .any(|a| matches!(a, Action::ConnectTracker { .. }))
            {
                break t;
            }
        };
        waits.push(connect_at.since(now));
        now = connect_at;
    }
    assert_eq!(waits[0], FIRST_BACKOFF);
    assert_eq!(waits[1], FIRST_BACKOFF * 2);
    assert_eq!(*waits.last().unwrap(), MAX_BACKOFF);
    // Once open, the backoff starts over.
    m.tracker_opened(now, 0);
    m.tracker_closed(now, 0);
    drain(&mut m);
    let mut t;
    loop {
        t = m.poll_timeout().unwrap();
        m.handle_timeout(t);
        if drain(&mut m)
            .iter()
            .any(|a| matches!(a, Action::ConnectTracker { .. }))
        {
            break;
        }
    }
    assert_eq!(t.since(now), FIRST_BACKOFF);
}

#[test]
fn a_tracker_that_does_not_open_in_time_is_closed_and_retried() {
    let mut m = Membership::new(config(1, 1), at(0), true);
    drain(&mut m);
    m.handle_timeout(at(0) + CONNECT_TIMEOUT);
    let a = drain(&mut m);
    assert!(a.contains(&Action::CloseTracker { tracker: 0 }), "{a:?}");
    m.handle_timeout(at(0) + CONNECT_TIMEOUT + FIRST_BACKOFF);
    assert!(
        drain(&mut m)
            .iter()
            .any(|a| matches!(a, Action::ConnectTracker { .. }))
    );
}

#[test]
fn an_offer_is_answered_through_the_tracker_it_came_by() {
    let mut m = joined(1, 2);
    let offer = Offer {
        offer_id: id(40),
        offer: sdp("theirs"),
    };
    m.tracker_text(at(10), 1, &protocol::forwarded_offer(SWARM, id(7), &offer));
    let a = drain(&mut m);
    let conn = match &a[..] {
        [
            Action::Answer {
                conn,
                remote,
                offer,
            },
        ] => {
            assert_eq!(*remote, id(7));
            assert_eq!(offer, &sdp("theirs"));
            *conn
        }
        other => panic!("{other:?}"),
    };
    m.answer_made(at(20), conn, json!({"type": "answer", "sdp": "ours"}));
    let sent = drain(&mut m);
    let Some(Action::SendTracker { tracker: 1, text }) = sent.first() else {
        panic!("{sent:?}")
    };
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(v["to_peer_id"], id(7).to_binary_string());
    assert_eq!(v["offer_id"], id(40).to_binary_string());
    assert_eq!(
        m.connection_opened(at(30), conn),
        Opened::Keep { replaces: None }
    );
    assert_eq!(m.remote(conn), Some(id(7)));
}

#[test]
fn offers_from_ourselves_banned_or_connected_peers_or_past_the_cap_are_not_answered() {
    let mut m = joined(1, 1);
    let offer = |n: u8| Offer {
        offer_id: id(n),
        offer: sdp("x"),
    };
    let forward = |m: &mut Membership, from: Id20, n: u8| {
        m.tracker_text(at(5), 0, &protocol::forwarded_offer(SWARM, from, &offer(n)));
        drain(m)
            .into_iter()
            .filter_map(|a| match a {
                Action::Answer { conn, .. } => Some(conn),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert!(forward(&mut m, id(1), 1).is_empty(), "ourselves");
    m.ban(id(3));
    assert!(forward(&mut m, id(3), 2).is_empty(), "banned");
    // The control: another peer is answered, and once connected is not again.
    let c = forward(&mut m, id(4), 3);
    assert_eq!(c.len(), 1);
    assert!(matches!(
        m.connection_opened(at(6), c[0]),
        Opened::Keep { .. }
    ));
    assert!(forward(&mut m, id(4), 4).is_empty(), "connected already");
    // The cap: 32 connections, open or on the way.
    let mut answered = 1;
    for p in 100..200u8 {
        answered += forward(&mut m, id(p), p).len();
    }
    assert_eq!(answered, MAX_PEERS);
}

#[test]
fn a_banned_peer_is_disconnected() {
    let mut m = joined(1, 1);
    let offer = Offer {
        offer_id: id(50),
        offer: sdp("x"),
    };
    m.tracker_text(at(1), 0, &protocol::forwarded_offer(SWARM, id(8), &offer));
    let Some(Action::Answer { conn, .. }) = drain(&mut m).pop() else {
        panic!()
    };
    m.connection_opened(at(2), conn);
    drain(&mut m);
    m.ban(id(8));
    assert_eq!(drain(&mut m), vec![Action::Close { conn }]);
}

#[test]
fn a_failed_connection_brings_the_next_announce_closer_at_most_every_few_seconds() {
    let mut m = joined(1, 1);
    // Seeded with a long interval and a peer connected (not lonely).
    m.set_completed(at(0));
    m.tracker_text(at(0), 0, &protocol::announce_response(SWARM, 600, 1, 1));
    let a = drain(&mut m);
    make_offers(&mut m, at(0), a);
    let fail = |m: &mut Membership, n: u8, now: Time| {
        let offer = Offer {
            offer_id: id(n),
            offer: sdp("x"),
        };
        m.tracker_text(now, 0, &protocol::forwarded_offer(SWARM, id(n), &offer));
        let conn = drain(m)
            .into_iter()
            .find_map(|a| match a {
                Action::Answer { conn, .. } => Some(conn),
                _ => None,
            })
            .unwrap();
        m.connection_ended(now, conn);
        drain(m);
    };
    let announce_times = |m: &mut Membership, from: Time, to: Time| {
        let mut seen = Vec::new();
        let mut now = from;
        while let Some(t) = m.poll_timeout() {
            if t > to {
                break;
            }
            now = t.max(now);
            m.handle_timeout(now);
            let acts = drain(m);
            let rest = make_offers(m, now, acts);
            if !announces(&rest).is_empty() {
                seen.push(now);
            }
        }
        seen
    };
    fail(&mut m, 60, at(1_000));
    let seen = announce_times(&mut m, at(1_000), at(2_000));
    assert_eq!(seen, vec![at(2_000)], "one second after the failure");
    fail(&mut m, 61, at(2_500));
    let seen = announce_times(&mut m, at(2_500), at(6_999));
    assert!(seen.is_empty(), "{seen:?}: not again within the period");
    let seen = announce_times(&mut m, at(7_000), at(7_000));
    assert_eq!(seen, vec![at(7_000)]);
}

#[test]
fn unanswered_offers_are_withdrawn() {
    let mut m = joined(1, 1);
    let sent_at = at(0);
    let out = drain(&mut m);
    assert!(out.is_empty(), "{out:?}");
    m.handle_timeout(sent_at + OFFER_TTL);
    let a = drain(&mut m);
    let discarded = a
        .iter()
        .filter(|a| matches!(a, Action::DiscardOffer { .. }))
        .count();
    // The announced ones and the spare ones, all made at 0.
    assert_eq!(discarded, OFFERS_PER_ANNOUNCE + SPARE_OFFERS, "{a:?}");
}

#[test]
fn completing_says_completed_at_once_and_without_uploads_nothing_more_is_offered() {
    let mut cfg = config(1, 1);
    cfg.upload_enabled = false;
    let mut m = Membership::new(cfg, at(0), true);
    let made = drain(&mut m);
    make_offers(&mut m, at(0), made);
    m.tracker_opened(at(0), 0);
    drain(&mut m);
    m.set_progress(0, 0, 1000);
    m.set_completed(at(50));
    let a = announces(&drain(&mut m));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].1["event"], "completed");
    assert_eq!(a[0].1["left"], 0);
    assert_eq!(
        offers_in(&a[0].1),
        0,
        "a seeder that does not upload offers nothing"
    );
    let offer = Offer {
        offer_id: id(70),
        offer: sdp("x"),
    };
    m.tracker_text(at(60), 0, &protocol::forwarded_offer(SWARM, id(7), &offer));
    assert!(
        !drain(&mut m)
            .iter()
            .any(|a| matches!(a, Action::Answer { .. }))
    );
}

#[test]
fn leaving_says_stopped_and_lets_everything_go() {
    let mut m = joined(1, 2);
    m.tracker_closed(at(1), 1);
    let offer = Offer {
        offer_id: id(80),
        offer: sdp("x"),
    };
    m.tracker_text(at(2), 0, &protocol::forwarded_offer(SWARM, id(7), &offer));
    drain(&mut m);
    m.leave(at(3));
    let a = drain(&mut m);
    let sent = announces(&a);
    assert_eq!(sent.len(), 1, "only the open tracker hears it");
    assert_eq!(sent[0].1["event"], "stopped");
    assert!(a.contains(&Action::CloseTracker { tracker: 0 }));
    assert!(a.iter().any(|a| matches!(a, Action::Close { .. })));
    assert!(a.iter().any(|a| matches!(a, Action::DiscardOffer { .. })));
    assert_eq!(m.poll_timeout(), None);
    m.tracker_opened(at(4), 1);
    m.handle_timeout(at(100_000));
    assert!(drain(&mut m).is_empty());
}

#[test]
fn an_offer_the_driver_cannot_make_pauses_offers_briefly() {
    let mut m = Membership::new(config(1, 1), at(0), true);
    let made = drain(&mut m);
    for a in made {
        if let Action::MakeOffer { conn } = a {
            m.offer_failed(at(0), conn);
        }
    }
    assert!(drain(&mut m).is_empty());
    m.handle_timeout(at(0) + OFFER_RETRY);
    assert!(
        drain(&mut m)
            .iter()
            .any(|a| matches!(a, Action::MakeOffer { .. }))
    );
}

// ---- machines meeting through a relay ---------------------------------------------

/// Forwards announces' offers to the swarm's other peers and answers to the peer
/// they are for, as a WebTorrent tracker does; and stands for the WebRTC stacks by
/// opening both ends of a connection once an answer is applied.
#[derive(Default)]
struct Relay {
    /// Which machine (by index) has which conn answering which offer conn.
    answering: HashMap<(usize, u64), (usize, u64)>,
    /// Turns the spreading of offers over the other peers.
    spread: usize,
}

impl Relay {
    /// Runs the machines until nothing more happens; returns the connections each
    /// machine kept, as (its conn, remote machine).
    fn run(&mut self, ms: &mut [Membership], now: Time) -> Vec<Vec<(ConnId, usize)>> {
        let mut kept: Vec<Vec<(ConnId, usize)>> = vec![Vec::new(); ms.len()];
        loop {
            let mut any = false;
            for i in 0..ms.len() {
                let actions = drain(&mut ms[i]);
                any |= !actions.is_empty();
                for a in actions {
                    self.act(ms, i, a, now, &mut kept);
                }
            }
            if !any {
                return kept;
            }
        }
    }

    fn act(
        &mut self,
        ms: &mut [Membership],
        i: usize,
        a: Action,
        now: Time,
        kept: &mut [Vec<(ConnId, usize)>],
    ) {
        let index_of = |ms: &[Membership], peer: Id20| ms.iter().position(|m| m.peer_id() == peer);
        match a {
            Action::MakeOffer { conn } => ms[i].offer_made(
                now,
                conn,
                json!({"type": "offer", "sdp": format!("{i}/{}", conn.0)}),
            ),
            Action::ConnectTracker { tracker, .. } => ms[i].tracker_opened(now, tracker),
            Action::SendTracker { text, .. } => match protocol::parse(&text, 10) {
                Ok(Request::Announce(a)) => {
                    let from = a.peer_id;
                    if let Some(answer) = a.answer
                        && let Some(j) = index_of(ms, answer.to_peer_id)
                    {
                        let t = protocol::forwarded_answer(SWARM, from, &answer);
                        ms[j].tracker_text(now, 0, &t);
                    }
                    // Each offer to another peer, as a tracker spreads them.
                    let others: Vec<usize> = (0..ms.len()).filter(|j| *j != i).collect();
                    for (k, offer) in a.offers.into_iter().enumerate() {
                        self.spread += 1;
                        let j = others[(k + self.spread) % others.len()];
                        let t = protocol::forwarded_offer(SWARM, from, &offer);
                        ms[j].tracker_text(now, 0, &t);
                    }
                }
                other => panic!("{other:?}"),
            },
            Action::Answer { conn, offer, .. } => {
                let tag = offer["sdp"].as_str().unwrap().to_string();
                let (owner, oconn) = tag.split_once('/').unwrap();
                let key = (owner.parse().unwrap(), oconn.parse().unwrap());
                self.answering.insert(key, (i, conn.0));
                ms[i].answer_made(now, conn, json!({"type": "answer", "sdp": tag}));
            }
            Action::AcceptAnswer { conn, .. } => {
                if let Some(&(j, their)) = self.answering.get(&(i, conn.0)) {
                    if let Opened::Keep { .. } = ms[i].connection_opened(now, conn) {
                        kept[i].push((conn, j));
                    }
                    if let Opened::Keep { .. } = ms[j].connection_opened(now, ConnId(their)) {
                        kept[j].push((ConnId(their), i));
                    }
                }
            }
            Action::Close { conn } => {
                kept[i].retain(|(c, _)| *c != conn);
            }
            Action::DiscardOffer { .. }
            | Action::CloseTracker { .. }
            | Action::TrackerRefused { .. } => {}
        }
    }
}

#[test]
fn two_peers_that_offer_to_each_other_at_once_keep_one_connection_on_both_sides() {
    let mut ms = vec![
        Membership::new(config(1, 1), at(0), true),
        Membership::new(config(2, 1), at(0), true),
    ];
    let mut relay = Relay::default();
    let kept = relay.run(&mut ms, at(0));
    assert_eq!(kept[0].len(), 1, "{kept:?}");
    assert_eq!(kept[1].len(), 1, "{kept:?}");
    // Both attempts (each answered the other's offer) opened: both sides kept the
    // same one, the offer of the lower peer id (machine 0).
    let (a, b) = (kept[0][0].0, kept[1][0].0);
    assert_eq!(relay.answering.get(&(0, a.0)), Some(&(1, b.0)), "{kept:?}");
    let crossed = relay
        .answering
        .keys()
        .filter(|(owner, _)| *owner == 1)
        .count();
    assert!(crossed > 0, "the test needs machine 1's offer answered too");
}

#[test]
fn a_crowd_meets_within_the_peer_cap() {
    let n = 40;
    let mut ms: Vec<Membership> = (0..n)
        .map(|i| Membership::new(config(10 + i as u8, 1), at(0), true))
        .collect();
    let mut relay = Relay::default();
    let mut kept = relay.run(&mut ms, at(0));
    // A few more rounds of announces, as time goes by.
    for round in 1..=6u64 {
        let now = at(round * LONELY_INTERVAL.as_millis() as u64);
        for m in ms.iter_mut() {
            m.handle_timeout(now);
        }
        let more = relay.run(&mut ms, now);
        for (k, m) in kept.iter_mut().zip(more) {
            k.extend(m);
        }
    }
    for (i, k) in kept.iter().enumerate() {
        assert!(k.len() <= MAX_PEERS, "{i}: {}", k.len());
        assert!(!k.is_empty(), "{i} met nobody");
        let mut remotes: Vec<usize> = k.iter().map(|(_, r)| *r).collect();
        remotes.sort();
        remotes.dedup();
        assert_eq!(remotes.len(), k.len(), "{i} connected twice to one peer");
    }
}

#[test]
fn no_deadline_is_left_in_the_past() {
    // Whatever happened, after handling a timeout the next one lies ahead: a driver
    // that sleeps until `poll_timeout` never spins.
    let mut m = joined(1, 2);
    let mut now = at(0);
    for step in 0..2_000u64 {
        match step % 7 {
            0 => m.tracker_closed(now, (step % 2) as usize),
            3 => m.tracker_opened(now, (step % 2) as usize),
            5 => {
                let offer = Offer {
                    offer_id: id((step % 250) as u8),
                    offer: sdp("x"),
                };
                let from = id(100 + (step % 50) as u8);
                m.tracker_text(now, 0, &protocol::forwarded_offer(SWARM, from, &offer));
            }
            _ => {}
        }
        let acts = drain(&mut m);
        make_offers(&mut m, now, acts);
        let Some(next) = m.poll_timeout() else { break };
        m.handle_timeout(next.max(now));
        drain(&mut m);
        let after = m.poll_timeout();
        assert!(
            after.is_none_or(|t| t > next.max(now)),
            "{step}: {after:?} at {next:?}"
        );
        now = next.max(now);
    }
}

#[test]
fn every_peer_id_carries_the_client_prefix_and_a_group_has_its_own_swarm() {
    let content = Hash32([9; 32]);
    let mut random = [0u8; 44];
    random[..12].copy_from_slice(b"twelve bytes");
    random[12] = 77;
    let public = MembershipConfig::new(&content, None, vec![], true, random);
    assert_eq!(&public.peer_id.0[..8], PEER_ID_PREFIX);
    assert_eq!(&public.peer_id.0[8..], b"twelve bytes");
    assert_eq!(public.seed[0], 77);
    assert_eq!(public.info_hash.0, content.swarm_key(None).0);
    let group = MembershipConfig::new(&content, Some("corp"), vec![], true, random);
    assert_ne!(group.info_hash, public.info_hash);
}

/// Connects `m` (downloading) to `n` peers through offers they forward.
fn connect_peers(m: &mut Membership, n: u8) {
    for p in 0..n {
        let offer = Offer {
            offer_id: id(100 + p),
            offer: sdp("x"),
        };
        m.tracker_text(
            at(1),
            0,
            &protocol::forwarded_offer(SWARM, id(60 + p), &offer),
        );
        let answer = drain(m).into_iter().find_map(|a| match a {
            Action::Answer { conn, .. } => Some(conn),
            _ => None,
        });
        let conn = answer.expect("an answer");
        assert!(matches!(
            m.connection_opened(at(2), conn),
            Opened::Keep { .. }
        ));
        drain(m);
    }
}

/// When the next announce goes out after `from`, and how many went out by `until`.
fn announces_between(m: &mut Membership, from: Time, until: Time) -> Vec<Time> {
    let mut out = Vec::new();
    let mut now = from;
    while let Some(next) = m.poll_timeout().filter(|t| *t <= until) {
        now = next.max(now);
        m.handle_timeout(now);
        let acts = drain(m);
        if !announces(&make_offers(m, now, acts)).is_empty() {
            out.push(now);
        }
    }
    out
}

#[test]
fn a_downloader_with_few_peers_in_a_larger_swarm_announces_again_soon_a_few_times() {
    // Two peers of the twenty the tracker counts: hungry.
    let mut m = joined(1, 1);
    connect_peers(&mut m, 2);
    m.tracker_text(at(3), 0, &protocol::announce_response(SWARM, 600, 5, 16));
    drain(&mut m);
    let sent = announces_between(&mut m, at(3), at(120_000));
    assert_eq!(sent.len() as u32, HUNGRY_ANNOUNCES, "{sent:?}");
    assert!(sent[0] <= at(0) + HUNGRY_INTERVAL, "{sent:?}");
    for w in sent.windows(2) {
        assert_eq!(w[1].since(w[0]), HUNGRY_INTERVAL, "{sent:?}");
    }
    // The controls: with as many peers as it wants, or with few but no more in the
    // swarm, only the announce the lonely start had set (at most one, not sooner).
    for (me, peers, complete, incomplete) in [(2, WANTED_PEERS as u8, 5, 16), (3, 2, 0, 3)] {
        let mut m = joined(me, 1);
        connect_peers(&mut m, peers);
        let counts = protocol::announce_response(SWARM, 600, complete, incomplete);
        m.tracker_text(at(3), 0, &counts);
        drain(&mut m);
        let sent = announces_between(&mut m, at(3), at(120_000));
        assert!(
            sent.len() <= 1 && sent.iter().all(|t| *t >= at(0) + LONELY_INTERVAL),
            "{sent:?}"
        );
    }
}

/// A seed announcing for an hour to a tracker that answers each announce with a
/// 120 s interval and `leechers` others downloading: (offers made, offers sent).
fn seed_for_an_hour(leechers: usize) -> (usize, usize) {
    let mut m = Membership::new(config(1, 1), at(0), false);
    let (mut made, mut sent) = (0, 0);
    let mut pending = drain(&mut m);
    m.tracker_opened(at(0), 0);
    pending.extend(drain(&mut m));
    let mut now = at(0);
    while now < at(3_600_000) {
        made += pending
            .iter()
            .filter(|a| matches!(a, Action::MakeOffer { .. }))
            .count();
        let rest = make_offers(&mut m, now, pending);
        for (_, a) in announces(&rest) {
            sent += offers_in(&a);
            let answer = protocol::announce_response(SWARM, 120, 1, leechers);
            m.tracker_text(now, 0, &answer);
        }
        let Some(next) = m.poll_timeout() else { break };
        now = next.max(now);
        m.handle_timeout(now);
        pending = drain(&mut m);
    }
    (made, sent)
}

#[test]
fn a_seed_makes_only_the_offers_its_announces_carry_and_none_while_nobody_downloads() {
    // Each offer is a peer connection, and a browser page may make about 500 in its
    // life: a seed keeps no pool that is remade every OFFER_TTL.
    let announce_count = 3_600 / 120;
    let (made, sent) = seed_for_an_hour(2);
    assert!(
        sent > 0,
        "with downloaders about, a seed's announces carry offers"
    );
    assert!(
        made <= (announce_count + 1) * OFFERS_PER_ANNOUNCE && made <= sent + OFFERS_PER_ANNOUNCE,
        "{made} offers made in an hour, {sent} sent"
    );
    // Nobody downloading: at most the first announce's worth, made before the
    // tracker had counted.
    let (made, sent) = seed_for_an_hour(0);
    assert!(
        made <= OFFERS_PER_ANNOUNCE,
        "{made} offers made alone, {sent} sent"
    );
}
