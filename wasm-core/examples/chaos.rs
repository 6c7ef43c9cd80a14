//! Random swarms (`sim::random_scenario`): every honest downloader that stays must
//! finish with the right bytes. Usage: chaos [FIRST_SEED] [COUNT] [MAX_SIZE_BYTES]
use swarmload_core::sim::{must_finish, random_scenario, run};

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let first = args.first().copied().unwrap_or(0);
    let count = args.get(1).copied().unwrap_or(100);
    let max_size = args.get(2).copied().unwrap_or(12 << 20);
    let mut failures = 0;
    for seed in first..first + count {
        let sc = random_scenario(seed, max_size);
        eprintln!("seed {seed}: {} nodes, {} bytes", sc.nodes.len(), sc.size);
        let out = run(&sc);
        for i in must_finish(&sc) {
            let n = &out.nodes[i];
            if n.completed_at.is_none() || !n.content_ok || n.delivered_wrong {
                failures += 1;
                println!(
                    "seed {seed} node {i}: done {:?} failed {:?} stats {:?}\n  {sc:?}",
                    n.completed_at, n.failed, n.stats
                );
            }
        }
    }
    println!("{failures} failing downloaders in {count} scenarios");
}
