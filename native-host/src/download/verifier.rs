//! The final gate's SHA-256, computed while the download runs: a thread follows the
//! contiguous prefix of written bytes, so the whole-file check costs almost no time
//! at the end. Bytes written right at the prefix are handed over as they are (no
//! copy); bytes that arrived ahead of it are read back from the file (the page cache,
//! in practice) when the prefix reaches them, so memory stays bounded however far out
//! of order the ranges arrive.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::mpsc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use swarmload_core::content::Hash32;
use tokio::sync::oneshot;

const CHUNK: usize = 1024 * 1024;

/// Blocks handed over and not yet hashed, at most (then the file is read instead).
const QUEUE: usize = 256;

enum Msg {
    /// Bytes `[0, n)` are written.
    Upto(u64),
    /// The bytes at this offset, just written at the prefix.
    Data(u64, Bytes),
    /// Bytes already hashed were rewritten: start again.
    Reset,
    Finish(oneshot::Sender<std::io::Result<Hash32>>),
}

pub struct Verifier {
    tx: mpsc::SyncSender<Msg>,
    sent: u64,
}

impl Verifier {
    pub fn start(file: File, size: u64) -> Verifier {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        std::thread::spawn(move || run(file, size, rx));
        Verifier { tx, sent: 0 }
    }

    /// Bytes just written at `offset`: hashed from memory if they continue the
    /// prefix and the thread keeps up, else read back later.
    pub fn written(&mut self, offset: u64, data: &Bytes) {
        if offset == self.sent && self.tx.try_send(Msg::Data(offset, data.clone())).is_ok() {
            self.sent += data.len() as u64;
        }
    }

    pub fn upto(&mut self, n: u64) {
        if n > self.sent {
            self.sent = n;
            let _ = self.tx.send(Msg::Upto(n));
        }
    }

    pub fn reset(&mut self) {
        self.sent = 0;
        let _ = self.tx.send(Msg::Reset);
    }

    /// Whether bytes at `offset` may already be in the hash.
    pub fn covers(&self, offset: u64) -> bool {
        offset < self.sent
    }

    /// The SHA-256 of the whole file as stored.
    pub async fn finish(&mut self) -> std::io::Result<Hash32> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Finish(tx))
            .map_err(|_| std::io::Error::other("the hashing thread stopped"))?;
        rx.await
            .map_err(|_| std::io::Error::other("the hashing thread stopped"))?
    }
}

fn run(file: File, size: u64, rx: mpsc::Receiver<Msg>) {
    let mut hasher = Sha256::new();
    let mut pos = 0u64;
    let mut target = 0u64;
    let mut buf = vec![0u8; CHUNK];
    let mut failed: Option<std::io::Error> = None;
    loop {
        // Drain what is waiting; block only when caught up.
        let msg = if pos < target && failed.is_none() {
            match rx.try_recv() {
                Ok(m) => Some(m),
                Err(mpsc::TryRecvError::Empty) => None,
                Err(mpsc::TryRecvError::Disconnected) => return,
            }
        } else {
            match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => return,
            }
        };
        match msg {
            Some(Msg::Upto(n)) => target = target.max(n.min(size)),
            Some(Msg::Data(offset, data)) => {
                if failed.is_none() {
                    match hash_range(&file, &mut hasher, &mut buf, &mut pos, offset) {
                        Ok(()) if pos == offset => {
                            hasher.update(&data);
                            pos += data.len() as u64;
                            target = target.max(pos);
                        }
                        Ok(()) => {}
                        Err(e) => failed = Some(e),
                    }
                }
            }
            Some(Msg::Reset) => {
                hasher = Sha256::new();
                pos = 0;
                target = 0;
                failed = None;
            }
            Some(Msg::Finish(reply)) => {
                let result = match failed.take() {
                    Some(e) => Err(e),
                    None => hash_range(&file, &mut hasher, &mut buf, &mut pos, size)
                        .map(|()| Hash32(std::mem::take(&mut hasher).finalize().into())),
                };
                let _ = reply.send(result);
                hasher = Sha256::new();
                pos = 0;
                target = 0;
            }
            None => {
                let end = (pos + CHUNK as u64).min(target);
                if let Err(e) = hash_range(&file, &mut hasher, &mut buf, &mut pos, end) {
                    failed = Some(e);
                }
            }
        }
    }
}

fn hash_range(
    file: &File,
    hasher: &mut Sha256,
    buf: &mut [u8],
    pos: &mut u64,
    end: u64,
) -> std::io::Result<()> {
    while *pos < end {
        let n = (end - *pos).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], *pos)?;
        hasher.update(&buf[..n]);
        *pos += n as u64;
    }
    Ok(())
}
