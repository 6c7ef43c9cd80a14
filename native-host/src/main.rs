//! `swarmload-host`: the native side of Swarmload.
//!
//! This build carries the `hash` command; the downloader, seeder and native-messaging
//! host arrive on top of the same core.

mod file_digest;
mod hash_command;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "swarmload-host", version, about = "Swarmload native host")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the digests that name a file: SHA-256, the Repr-Digest header value,
    /// the BEP 52 Merkle root, the swarm's info hash, and the size.
    Hash {
        /// The file to hash.
        file: PathBuf,
        /// One JSON object with keys sha256, repr_digest, root, info_hash, size.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hash { file, json } => hash_command::run(&file, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("swarmload-host: {e}");
            ExitCode::FAILURE
        }
    }
}
