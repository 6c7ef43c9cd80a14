//! `swarmload-host`: the native side of Swarmload.
//!
//! Started by a browser (native messaging), it serves the extension over stdin and
//! stdout. From a shell it is a downloader (`get`), a seeder (`seed`), reports what
//! it holds (`status`), prints the digests that name a file (`hash`), and registers
//! itself with the browsers (`install`, `uninstall`) and checks that (`doctor`).

use swarmload_host::{
    doctor_command, get_command, hash_command, install_command, native_messaging, seed_command,
    status_command,
};

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
    /// Download URL: from peers that have the same bytes and from the origin,
    /// verified before it is saved. Run the same command again to resume.
    Get(get_command::GetArgs),
    /// Share FILEs with everyone who downloads the same bytes: hash each, announce
    /// it on the trackers, and serve it in place until interrupted.
    Seed(seed_command::SeedArgs),
    /// List partial downloads and the content in the seeding cache.
    Status {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Print the digests that name a file: SHA-256, the Repr-Digest header value,
    /// the BEP 52 Merkle root, the swarm's info hash, and the size.
    Hash {
        /// The file to hash.
        file: PathBuf,
        /// One JSON object with keys sha256, repr_digest, root, info_hash, size.
        #[arg(long)]
        json: bool,
    },
    /// Register this program with the browsers as the extension's native-messaging
    /// host (writes each browser's host manifest).
    Install(install_command::InstallArgs),
    /// Remove exactly what `install` wrote, for the same selection.
    Uninstall(install_command::InstallArgs),
    /// Check the installation and explain what to fix: each browser's host
    /// manifest, this program, the extension ids, config.toml, the trackers.
    Doctor(doctor_command::DoctorArgs),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if native_messaging::is_browser_launch(&args) {
        return native_messaging::run(&args);
    }
    let cli = Cli::parse();
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Get(args) => get_command::run(args).map_err(Into::into),
        Command::Seed(args) => seed_command::run(args).map_err(Into::into),
        Command::Status { json, state_dir } => {
            status_command::run(state_dir.as_deref(), json).map_err(Into::into)
        }
        Command::Hash { file, json } => hash_command::run(&file, json).map_err(Into::into),
        Command::Install(args) => install_command::install(&args)
            .map(|_| ())
            .map_err(Into::into),
        Command::Uninstall(args) => install_command::uninstall(&args)
            .map(|_| ())
            .map_err(Into::into),
        Command::Doctor(args) => match doctor_command::run(&args) {
            Ok(true) => Ok(()),
            // Each problem was explained on stdout.
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("swarmload-host: {e}");
            ExitCode::FAILURE
        }
    }
}
