//! Random swarms: any honest downloader that stays must finish with the right bytes
//! whenever an honest source remains. Usage: chaos [FIRST_SEED] [COUNT]
use std::time::Duration;
use swarmload_core::sim::*;

const KB: u64 = 1024;
const MB: u64 = 1 << 20;

fn rng(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let first = args.first().copied().unwrap_or(0);
    let count = args.get(1).copied().unwrap_or(100);
    let mut failures = 0;
    for seed in first..first + count {
        let sc = scenario(seed);
        eprintln!("running seed {seed}");
        if std::env::var("SHOW").is_ok() { eprintln!("{}", sc_summary(&sc)); }
        let mut sc = sc;
        if std::env::var("NOCHECK").is_ok() {
            sc.check_invariants = false;
        }
        let out = run(&sc);
        if std::env::var("SHOW").is_ok() {
            for (i, n) in out.nodes.iter().enumerate() {
                eprintln!("node {i}: done {:?} failed {:?} stats {:?}", n.completed_at, n.failed, n.stats);
                let mut last = Duration::ZERO;
                for (t, p, o, u) in &n.traffic_log {
                    if *t >= last + Duration::from_secs(2) {
                        eprint!(" [{:.0}s p{} o{} u{}]", t.as_secs_f64(), p >> 20, o >> 20, u >> 20);
                        last = *t;
                    }
                }
                eprintln!();
            }
        }
        let mut bad = Vec::new();
        for (i, (spec, node)) in sc.nodes.iter().zip(&out.nodes).enumerate() {
            if spec.role != Role::Downloader
                || spec.leave_at.is_some()
                || spec.behaviour != Behaviour::Honest
            {
                continue;
            }
            if node.completed_at.is_none() || !node.content_ok || node.delivered_wrong {
                bad.push(format!(
                    "node {i}: done {:?} ok {} wrong {} failed {:?} stats {:?}",
                    node.completed_at, node.content_ok, node.delivered_wrong, node.failed, node.stats
                ));
            }
        }
        if !bad.is_empty() {
            failures += 1;
            println!("seed {seed}: {:?}", sc_summary(&sc));
            for b in bad {
                println!("   {b}");
            }
        }
    }
    println!("{failures} failing scenarios of {count}");
    if std::env::var("SHOW").is_ok() { println!("{}", sc_summary(&scenario(first))); }
}

fn sc_summary(sc: &Scenario) -> String {
    format!(
        "size {} origin {:?} knowledge {:?} nodes {:?}",
        sc.size,
        sc.origin.as_ref().map(|o| o.rate),
        sc.knowledge,
        sc.nodes
            .iter()
            .map(|n| format!(
                "{:?}/{:?} up {} join {:?} leave {:?}",
                n.role, n.behaviour, n.upload, n.join_at, n.leave_at
            ))
            .collect::<Vec<_>>()
    )
}

pub fn scenario(seed: u64) -> Scenario {
    let mut s = seed.wrapping_mul(7919) + 1;
    let size = 1 + rng(&mut s) % (12 * MB);
    let mut sc = Scenario::new(size, seed);
    sc.check_invariants = true;
    sc.time_limit = Duration::from_secs(900);
    sc.knowledge = match rng(&mut s) % 3 {
        0 => Knowledge::Sha256,
        1 => Knowledge::Root,
        _ => Knowledge::Leaves,
    };
    let has_origin = rng(&mut s) % 4 != 0;
    if has_origin {
        sc.origin = Some(OriginSpec { rate: 256 * KB + rng(&mut s) % (16 * MB) });
    }
    let seeds = rng(&mut s) % 4;
    let mut honest_stays = false;
    for _ in 0..seeds {
        let up = 64 * KB + rng(&mut s) % (8 * MB);
        let behaviour = match rng(&mut s) % 6 {
            0 => Behaviour::CorruptBlocks,
            1 => Behaviour::FakeRoot,
            2 => Behaviour::Silent,
            _ => Behaviour::Honest,
        };
        let mut n = NodeSpec::seed(up).behaving(behaviour);
        n = n.joining_at(Duration::from_millis(rng(&mut s) % 2000));
        if rng(&mut s) % 3 == 0 {
            let at = n.join_at + Duration::from_millis(100 + rng(&mut s) % 3000);
            n = n.leaving_at(at);
        } else if behaviour == Behaviour::Honest {
            honest_stays = true;
        }
        sc.nodes.push(n);
    }
    if !has_origin && !honest_stays {
        sc.nodes.push(NodeSpec::seed(MB + rng(&mut s) % (4 * MB)));
    }
    let downloaders = 1 + rng(&mut s) % 6;
    for _ in 0..downloaders {
        let up = 64 * KB + rng(&mut s) % (4 * MB);
        let down = up + rng(&mut s) % (16 * MB);
        let behaviour = match rng(&mut s) % 8 {
            0 => Behaviour::CorruptBlocks,
            1 => Behaviour::Silent,
            _ => Behaviour::Honest,
        };
        let mut n = NodeSpec::downloader(up, down)
            .behaving(behaviour)
            .joining_at(Duration::from_millis(rng(&mut s) % 3000));
        if rng(&mut s) % 5 == 0 {
            let at = n.join_at + Duration::from_millis(rng(&mut s) % 5000);
            n = n.leaving_at(at);
        }
        sc.nodes.push(n);
    }
    sc
}
