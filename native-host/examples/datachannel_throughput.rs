//! Raw data-channel throughput between two webrtc-rs peers on 127.0.0.1: 16 KiB
//! messages, sent with the host's flow control (buffered-amount watermarks), no
//! engine. The yardstick `cargo xtask bench swarm` sets a real seeder→downloader
//! transfer against.
//!
//! ```text
//! datachannel_throughput [MIB]            both peers in this process, on a
//!                                         multi-threaded runtime
//! datachannel_throughput --processes [MIB]
//!                                         the receiver in a second process, each
//!                                         side on the runtime `get` and `seed` use
//!                                         (one thread, drivers included)
//! ```
//!
//! Prints one JSON line: `{"bytes": N, "seconds": S}`.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use swarmload_host::swarm::rtc::{self, REACTOR_THREADS, RtcConfig};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const MESSAGE: usize = 16 * 1024 + 5;

fn config(reactor_threads: usize) -> RtcConfig {
    RtcConfig {
        ice_servers: Vec::new(),
        udp_addrs: vec!["127.0.0.1:0".into()],
        reactor_threads,
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mib = |i: usize| -> usize { args.get(i).and_then(|a| a.parse().ok()).unwrap_or(256) };
    match args.first().map(String::as_str) {
        Some("--processes") => host_runtime()?.block_on(sender_process(mib(1))),
        Some("--receiver") => host_runtime()?.block_on(receiver_process(mib(1))),
        _ => tokio::runtime::Runtime::new()?.block_on(one_process(mib(0))),
    }
}

/// The runtime `swarmload-host get` and `seed` run on.
fn host_runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

async fn one_process(mib: usize) -> Result<()> {
    // Both peers live in this process: let the multi-threaded runtime spread their
    // drivers over the cores, webrtc-rs's fastest setting here.
    let cfg = config(0);
    let (pending, offer) = rtc::offer(&cfg).await?;
    let (answering, answer) = rtc::answer(&cfg, offer).await?;
    let (a, b) = tokio::join!(pending.connect(answer), answering.connect());
    let (a, mut b) = (a?, b?);
    let count = mib * 64;
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        let msg = vec![0x5au8; MESSAGE];
        for _ in 0..count {
            if a.send(&msg).await.is_err() {
                break;
            }
        }
        a
    });
    let mut bytes = 0u64;
    for _ in 0..count {
        match b.incoming.recv().await {
            Some(m) => bytes += m.len() as u64,
            None => break,
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let a = sender.await?;
    a.close().await;
    println!("{{\"bytes\": {bytes}, \"seconds\": {seconds}}}");
    Ok(())
}

/// Offers, hands the offer to a receiver process on its stdin, reads its answer
/// and its result from its stdout.
async fn sender_process(mib: usize) -> Result<()> {
    let cfg = config(REACTOR_THREADS);
    let (pending, offer) = rtc::offer(&cfg).await?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--receiver", &mib.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut to_child = child.stdin.take().ok_or("no stdin")?;
    writeln!(to_child, "{offer}")?;
    let mut from_child = std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut line = String::new();
    from_child.read_line(&mut line)?;
    let a = pending.connect(serde_json::from_str(&line)?).await?;
    let msg = vec![0x5au8; MESSAGE];
    for _ in 0..mib * 64 {
        if a.send(&msg).await.is_err() {
            break;
        }
    }
    // The receiver reports once it has everything.
    let result = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        from_child.read_line(&mut line).map(|_| line)
    })
    .await??;
    a.close().await;
    let _ = child.wait();
    print!("{result}");
    Ok(())
}

async fn receiver_process(mib: usize) -> Result<()> {
    let cfg = config(REACTOR_THREADS);
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let (answering, answer) = rtc::answer(&cfg, serde_json::from_str(&line)?).await?;
    println!("{answer}");
    std::io::stdout().flush()?;
    let mut b = answering.connect().await?;
    let mut bytes = 0u64;
    let mut start = None;
    for _ in 0..mib * 64 {
        match b.incoming.recv().await {
            Some(m) => {
                // From the first message: connection set-up is not throughput.
                start.get_or_insert_with(Instant::now);
                bytes += m.len() as u64;
            }
            None => break,
        }
    }
    let seconds = start.map_or(0.0, |s| s.elapsed().as_secs_f64());
    println!("{{\"bytes\": {bytes}, \"seconds\": {seconds}}}");
    Ok(())
}
