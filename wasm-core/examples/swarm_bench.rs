//! Flash crowds in the simulator against the Kumar–Ross fluid-model lower bound:
//! N downloaders start together, the origin is the only source of data.
//! Prints a markdown table and RESULT lines.

use std::time::Duration;

use swarmload_core::sim::{Knowledge, NodeSpec, OriginSpec, Scenario, fluid_bound, run};

const MB: u64 = 1 << 20;

fn main() {
    let size = 32 * MB;
    let (up, down) = (4 * MB, 16 * MB);
    println!(
        "| downloaders | origin MB/s | last done (s) | fluid bound (s) | ratio | origin copies |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for origin in [4 * MB, 16 * MB] {
        for n in [2usize, 4, 8, 16, 32] {
            let mut sc = Scenario::new(size, 16);
            sc.knowledge = Knowledge::Leaves;
            sc.origin = Some(OriginSpec { rate: origin });
            sc.time_limit = Duration::from_secs(300);
            for _ in 0..n {
                sc.nodes.push(NodeSpec::downloader(up, down));
            }
            let out = run(&sc);
            let last = out
                .last_completion(&sc)
                .map_or(f64::INFINITY, |d| d.as_secs_f64());
            let bound = fluid_bound(size, origin, &vec![down; n], &vec![up; n]);
            println!(
                "| {n} | {} | {last:.2} | {bound:.2} | {:.3} | {:.2} |",
                origin / MB,
                last / bound,
                out.origin_bytes_sent as f64 / size as f64
            );
            println!(
                "RESULT flash-crowd n={n} origin={} ratio={:.3}",
                origin / MB,
                last / bound
            );
        }
    }
    println!(
        "\n32 MiB file; every peer uploads 4 MiB/s and downloads 16 MiB/s; 20 ms latency; \
         the hash tree is known up front."
    );
}
