use std::time::Duration;
use swarmload_core::sim::*;
fn main() {
    const MB: u64 = 1 << 20;
    let size = 32 * MB;
    let origin: u64 = std::env::var("O")
        .map(|v| v.parse::<u64>().unwrap() * MB)
        .unwrap_or(16 * MB);
    let n: usize = std::env::var("N").map(|v| v.parse().unwrap()).unwrap_or(16);
    let (up, down) = (4 * MB, 16 * MB);
    let mut sc = Scenario::new(
        size,
        std::env::var("S").map(|v| v.parse().unwrap()).unwrap_or(16),
    );
    sc.knowledge = Knowledge::Leaves;
    sc.origin = Some(OriginSpec { rate: origin });
    for _ in 0..n {
        sc.nodes.push(NodeSpec::downloader(up, down));
    }
    sc.time_limit = Duration::from_secs(60);
    sc.check_invariants = std::env::var("CHECK").is_ok();
    let out = run(&sc);
    if std::env::var("TL").is_ok() {
        for (i, n) in out.nodes.iter().enumerate() {
            let mut last = (0u64, 0u64, 0u64);
            let mut lt = 0.0;
            let mut line = format!("{i}:");
            for (t, p, o, u) in &n.traffic_log {
                if t.as_secs_f64() - lt >= 0.5 {
                    line += &format!(
                        " [{:.1} p{:.1} o{:.1} u{:.1}]",
                        t.as_secs_f64(),
                        (p - last.0) as f64 / MB as f64 / (t.as_secs_f64() - lt),
                        (o - last.1) as f64 / MB as f64 / (t.as_secs_f64() - lt),
                        (u - last.2) as f64 / MB as f64 / (t.as_secs_f64() - lt)
                    );
                    last = (*p, *o, *u);
                    lt = t.as_secs_f64();
                }
            }
            println!("{line}");
        }
    }
    println!(
        "origin sent {:.1} MB events {}",
        out.origin_bytes_sent as f64 / MB as f64,
        out.events
    );
    for (i, n) in out.nodes.iter().enumerate() {
        println!(
            "{i}: done {:.2} origin {:.1} peers {:.1} up {:.1} wasted {:.1} timeouts {}",
            n.completed_at.map_or(-1.0, |d| d.as_secs_f64()),
            n.stats.bytes_from_origin as f64 / MB as f64,
            n.stats.bytes_from_peers as f64 / MB as f64,
            n.stats.bytes_uploaded as f64 / MB as f64,
            n.stats.bytes_wasted as f64 / MB as f64,
            n.stats.request_timeouts
        );
    }
}
#[allow(dead_code)]
fn x() {}
