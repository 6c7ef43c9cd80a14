//! `swarmload-tracker --listen ADDR`: the signaling server. Prints
//! `listening on ws://ADDR` once it accepts connections; logs go to stderr
//! (`SWARMLOAD_LOG=debug` for more).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use swarmload_tracker::{Config, Tracker};

#[derive(Parser)]
#[command(
    name = "swarmload-tracker",
    version,
    about = "WebTorrent WebSocket tracker"
)]
struct Cli {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: String,
    /// Seconds between announces, told to clients.
    #[arg(long, default_value_t = 120)]
    interval: u64,
    /// Seconds of silence after which a connection is closed.
    #[arg(long, default_value_t = 300)]
    idle_timeout: u64,
    #[arg(long, default_value_t = 10_000)]
    max_peers_per_swarm: usize,
    #[arg(long, default_value_t = 10)]
    max_offers: usize,
    /// Trusted groups' mapping ids kept (oldest forgotten first); 0 refuses the
    /// mapping actions as a plain WebTorrent tracker does.
    #[arg(long, default_value_t = 100_000)]
    max_mapping_ids: usize,
    /// Mapping puts one address (an IPv6 /64) may make at once...
    #[arg(long, default_value_t = 30)]
    mapping_put_burst: u32,
    /// ...and then a minute.
    #[arg(long, default_value_t = 30)]
    mapping_puts_per_minute: u32,
    /// A reverse proxy (TLS terminator) whose X-Forwarded-For names the client;
    /// repeat for several.
    #[arg(long = "trusted-proxy", value_name = "ADDR")]
    trusted_proxies: Vec<std::net::IpAddr>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWARMLOAD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let listener = match tokio::net::TcpListener::bind(&cli.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("swarmload-tracker: cannot listen on {}: {e}", cli.listen);
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("swarmload-tracker: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cfg = Config {
        interval: cli.interval,
        idle_timeout: Duration::from_secs(cli.idle_timeout.max(1)),
        max_peers_per_swarm: cli.max_peers_per_swarm.max(1),
        max_offers: cli.max_offers.max(1),
        max_mapping_ids: cli.max_mapping_ids,
        mapping_puts: swarmload_tracker::mappings::PutRate {
            burst: cli.mapping_put_burst.max(1),
            per_minute: cli.mapping_puts_per_minute,
        },
        trusted_proxies: cli.trusted_proxies,
        ..Config::default()
    };
    println!("listening on ws://{addr}");
    tokio::select! {
        _ = Tracker::new(cfg).serve(listener) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    ExitCode::SUCCESS
}
