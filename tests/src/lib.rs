//! Fixtures for Swarmload's integration tests and benchmarks.

pub mod origin;

/// Deterministic pseudo-random bytes (splitmix64), so every run serves the same
/// content without storing it.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut state = seed;
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `len` deterministic pseudo-random bytes to `path`, 1 MiB at a time.
pub fn write_random_file(path: &std::path::Path, len: u64, seed: u64) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut left = len;
    let mut chunk_seed = seed;
    while left > 0 {
        let n = left.min(1 << 20);
        f.write_all(&random_bytes(n as usize, chunk_seed))?;
        chunk_seed = chunk_seed.wrapping_add(1);
        left -= n;
    }
    f.flush()
}

/// A TCP connection to `to` from the loopback address 127.0.0.`last` (all of 127/8
/// is this machine's): a client on another address, as a server that counts per
/// address sees it.
pub async fn connect_from_loopback(
    to: std::net::SocketAddr,
    last: u8,
) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(std::net::SocketAddr::from(([127, 0, 0, last], 0)))?;
    socket.connect(to).await
}
