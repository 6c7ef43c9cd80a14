//! A deterministic swarm simulator: real engines, virtual time, a modelled network.
//!
//! Every node runs a real [`Engine`] and a real [`Membership`] machine, which finds its
//! peers through a relaying tracker as a deployed peer does; bytes are real and every
//! hash is computed. The
//! network is modelled: each node has an uplink and a downlink of fixed rate, served
//! first-in first-out, plus a fixed one-way latency; small control messages (under
//! 1 KiB) skip the queues, as they would ride beside bulk data. The origin is one more
//! uplink shared round-robin between its open range responses. Misbehaving nodes are
//! honest engines whose traffic the simulator tampers with, or seeds of forged content.
//!
//! Same scenario, same seed: same result, to the microsecond.
//!
//! [`Engine`]: crate::engine::Engine
//! [`Membership`]: crate::membership::Membership

mod network;
mod random;
mod scenario;
mod swarm;

pub use random::{must_finish, random_scenario};
pub use scenario::{
    Behaviour, Knowledge, NodeOutcome, NodeSpec, OriginSpec, Outcome, Role, Scenario, run,
};

/// Deterministic test content: `size` pseudo-random bytes from `seed`.
pub fn content(size: u64, seed: u64) -> Vec<u8> {
    let mut state = seed ^ 0x243f_6a88_85a3_08d3;
    let mut out = Vec::with_capacity(size as usize);
    while (out.len() as u64) < size {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let take = (size as usize - out.len()).min(8);
        out.extend_from_slice(&z.to_le_bytes()[..take]);
    }
    out
}

/// The Kumar–Ross fluid-model lower bound on the time for every downloader to finish
/// (seconds): `max(F/u_origin, F/d_min, N·F/(u_origin + Σu_peers))`.
pub fn fluid_bound(size: u64, origin_rate: u64, downloads: &[u64], uploads: &[u64]) -> f64 {
    let f = size as f64;
    let n = downloads.len() as f64;
    let d_min = downloads.iter().copied().min().unwrap_or(u64::MAX) as f64;
    let total_up = origin_rate as f64 + uploads.iter().map(|u| *u as f64).sum::<f64>();
    (f / origin_rate as f64)
        .max(f / d_min)
        .max(n * f / total_up)
}
