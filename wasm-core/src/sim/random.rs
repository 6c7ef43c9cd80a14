//! Random swarms for robustness checks: any mix of seeds (honest, corrupting, forging,
//! silent, leaving), downloaders (some misbehaving, some leaving), origins and
//! knowledge, drawn from one seed.

use std::time::Duration;

use super::scenario::{Behaviour, Knowledge, NodeSpec, OriginSpec, Role, Scenario};

const KB: u64 = 1024;
const MB: u64 = 1 << 20;

fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A random scenario in which an honest source always remains: an origin, or an
/// honest seed that never leaves. Content sizes go up to `max_size`.
pub fn random_scenario(seed: u64, max_size: u64) -> Scenario {
    let mut s = seed.wrapping_mul(7919) + 1;
    let size = 1 + next(&mut s) % max_size;
    let mut sc = Scenario::new(size, seed);
    sc.check_invariants = true;
    sc.time_limit = Duration::from_secs(900);
    sc.knowledge = match next(&mut s) % 3 {
        0 => Knowledge::Sha256,
        1 => Knowledge::Root,
        _ => Knowledge::Leaves,
    };
    let has_origin = !next(&mut s).is_multiple_of(4);
    if has_origin {
        sc.origin = Some(OriginSpec {
            rate: 256 * KB + next(&mut s) % (16 * MB),
        });
    }
    let mut honest_stays = false;
    for _ in 0..next(&mut s) % 4 {
        let behaviour = match next(&mut s) % 6 {
            0 => Behaviour::CorruptBlocks,
            1 => Behaviour::FakeRoot,
            2 => Behaviour::Silent,
            _ => Behaviour::Honest,
        };
        let mut n = NodeSpec::seed(64 * KB + next(&mut s) % (8 * MB))
            .behaving(behaviour)
            .joining_at(Duration::from_millis(next(&mut s) % 2000));
        if next(&mut s).is_multiple_of(3) {
            let at = n.join_at + Duration::from_millis(100 + next(&mut s) % 3000);
            n = n.leaving_at(at);
        } else if behaviour == Behaviour::Honest {
            honest_stays = true;
        }
        sc.nodes.push(n);
    }
    if !has_origin && !honest_stays {
        sc.nodes.push(NodeSpec::seed(MB + next(&mut s) % (4 * MB)));
    }
    for _ in 0..1 + next(&mut s) % 6 {
        let up = 64 * KB + next(&mut s) % (4 * MB);
        let down = up + next(&mut s) % (16 * MB);
        let behaviour = match next(&mut s) % 8 {
            0 => Behaviour::CorruptBlocks,
            1 => Behaviour::Silent,
            _ => Behaviour::Honest,
        };
        let mut n = NodeSpec::downloader(up, down)
            .behaving(behaviour)
            .joining_at(Duration::from_millis(next(&mut s) % 3000));
        if next(&mut s).is_multiple_of(5) {
            let at = n.join_at + Duration::from_millis(next(&mut s) % 5000);
            n = n.leaving_at(at);
        }
        if next(&mut s).is_multiple_of(10) {
            n = n.without_origin();
        }
        sc.nodes.push(n);
    }
    sc
}

/// The honest downloaders that stay to the end and can reach an honest source: these
/// must finish correctly. One that cannot reach the origin needs an honest peer that
/// stays: a seed, or a downloader that can reach the origin (it finishes, then serves).
pub fn must_finish(sc: &Scenario) -> impl Iterator<Item = usize> + '_ {
    let honest_stays = |n: &NodeSpec| n.behaviour == Behaviour::Honest && n.leave_at.is_none();
    let peer_source = sc.nodes.iter().any(|n| {
        honest_stays(n) && (n.role == Role::Seed || (sc.origin.is_some() && !n.origin_unreachable))
    });
    sc.nodes.iter().enumerate().filter_map(move |(i, n)| {
        let reachable = (sc.origin.is_some() && !n.origin_unreachable) || peer_source;
        (n.role == Role::Downloader && honest_stays(n) && reachable).then_some(i)
    })
}
