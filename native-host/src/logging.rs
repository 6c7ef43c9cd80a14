//! Logs go to `host.log` in the state directory, never to stdout (which carries
//! native-messaging frames in that mode). `SWARMLOAD_LOG` sets the filter
//! (`info` by default, e.g. `swarmload_host=debug`).

use std::path::Path;

pub fn init(log_file: &Path) {
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_file)
    else {
        // No log file is no reason to fail a download.
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWARMLOAD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .try_init();
}
