use swarmload_core::sim::*;
fn main() {
    let seed: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3188);
    let sc = random_scenario(seed, 12 << 20);
    println!(
        "size {} origin {:?} knowledge {:?}",
        sc.size,
        sc.origin.as_ref().map(|o| o.rate),
        sc.knowledge
    );
    let out = run(&sc);
    for (i, n) in out.nodes.iter().enumerate() {
        let s = &sc.nodes[i];
        println!(
            "{i} {:?}/{:?} up {} join {:?} leave {:?} noorigin {}: done {:?} failed {:?} have {} banned {:?} {:?} resets {} rr {} wasted {}",
            s.role,
            s.behaviour,
            s.upload,
            s.join_at,
            s.leave_at,
            s.origin_unreachable,
            n.completed_at,
            n.failed,
            n.stats.blocks_have,
            n.banned,
            n.ban_reasons,
            n.delivery_resets,
            n.stats.roots_rejected,
            n.stats.bytes_wasted
        );
    }
}
