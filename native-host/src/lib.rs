//! The native host's parts, as a library for the `swarmload-host` binary and its
//! tests.

pub mod config;
pub mod delivery;
pub mod digest_lookup;
pub mod doctor_command;
pub mod download;
pub mod file_digest;
pub use swarmload_core::filename;
pub mod get_command;
pub mod hash_command;
pub mod install_command;
pub mod logging;
pub mod native_messaging;
pub mod origin;
pub mod peer_source;
pub mod seed_command;
pub mod seeding;
pub mod status_command;
pub mod store;
pub mod swarm;
pub mod transfer;
