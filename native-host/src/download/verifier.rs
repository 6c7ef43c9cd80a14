//! The final gate's SHA-256, computed while the download runs: a thread follows the
//! contiguous prefix of written bytes, so the whole-file check costs almost no time
//! at the end. Bytes written right at the prefix are handed over as they are (no
//! copy, in batches of about 1 MiB so the thread is woken rarely); bytes that arrived
//! ahead of it are read back from the file (the page cache, in practice) when the
//! prefix reaches them, so memory stays bounded however far out of order the ranges
//! arrive.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::mpsc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use swarmload_core::content::Hash32;
use tokio::sync::oneshot;

const CHUNK: usize = 1024 * 1024;

/// Bytes handed over in one message.
const BATCH: usize = 1024 * 1024;
/// Messages in flight. When the thread falls this far behind, written bytes are no
/// longer handed over (it reads them back from the file later): the download never
/// waits for the hash.
const QUEUE: usize = 8;

enum Msg {
    /// Bytes `[0, n)` are written.
    Upto(u64),
    /// The bytes at this offset, just written at the prefix, in order.
    Data(u64, Vec<Bytes>),
    /// Bytes already hashed were rewritten: start again.
    Reset,
    Finish(oneshot::Sender<std::io::Result<Hash32>>),
}

pub struct Verifier {
    tx: mpsc::SyncSender<Msg>,
    /// Bytes `[0, sent)` are with the thread or in `batch`.
    sent: u64,
    batch: Vec<Bytes>,
    batch_start: u64,
    batch_len: usize,
}

impl Verifier {
    pub fn start(file: File, size: u64) -> Verifier {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        std::thread::spawn(move || run(file, size, rx));
        Verifier {
            tx,
            sent: 0,
            batch: Vec::new(),
            batch_start: 0,
            batch_len: 0,
        }
    }

    /// Bytes just written at `offset`: hashed from memory if they continue the
    /// prefix, else read back later.
    pub fn written(&mut self, offset: u64, data: &Bytes) {
        if offset != self.sent {
            return;
        }
        if self.batch.is_empty() {
            self.batch_start = offset;
        }
        self.batch.push(data.clone());
        self.batch_len += data.len();
        self.sent += data.len() as u64;
        if self.batch_len >= BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            self.batch_len = 0;
            if self
                .tx
                .try_send(Msg::Data(self.batch_start, batch))
                .is_err()
            {
                // The thread is behind: these bytes will be read back instead.
                self.sent = self.batch_start;
            }
        }
    }

    /// Bytes `[0, n)` are written. If the thread is too far behind to take the news
    /// now, it is given again with the next call.
    pub fn upto(&mut self, n: u64) {
        if n > self.sent {
            self.flush();
            if n > self.sent && self.tx.try_send(Msg::Upto(n)).is_ok() {
                self.sent = n;
            }
        }
    }

    pub fn reset(&mut self) {
        self.batch.clear();
        self.batch_len = 0;
        self.sent = 0;
        let _ = self.tx.send(Msg::Reset);
    }

    /// Whether bytes at `offset` may already be in the hash.
    pub fn covers(&self, offset: u64) -> bool {
        offset < self.sent
    }

    /// The SHA-256 of the whole file as stored.
    pub async fn finish(&mut self) -> std::io::Result<Hash32> {
        self.flush();
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
                            for d in data {
                                hasher.update(&d);
                                pos += d.len() as u64;
                            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::FileExt;

    #[tokio::test]
    async fn the_digest_follows_writes_in_any_order_and_after_a_reset() {
        let size = 5 * BATCH + 12_345;
        let data: Vec<u8> = (0..size).map(|i| (i * 7 + i / 1000) as u8).collect();
        let path = std::env::temp_dir().join(format!("swl-verifier-{}", std::process::id()));
        let mut f = File::create(&path).unwrap();
        f.write_all(&vec![0u8; size]).unwrap();
        let expected = Hash32(Sha256::digest(&data).into());
        let block = 16 * 1024;
        // Blocks land in a shuffled order: some at the prefix (handed over), some
        // ahead of it (read back from the file later).
        let mut order: Vec<usize> = (0..size.div_ceil(block)).collect();
        order.swap(0, 3);
        order.swap(10, 40);
        order.reverse();
        let last = order.len() - 1;
        order.swap(0, last);
        let mut v = Verifier::start(File::open(&path).unwrap(), size as u64);
        let mut written = vec![false; order.len()];
        let mut prefix = 0;
        for (round, &b) in order.iter().enumerate() {
            let range = b * block..((b + 1) * block).min(size);
            f.write_all_at(&data[range.clone()], range.start as u64)
                .unwrap();
            v.written(range.start as u64, &Bytes::copy_from_slice(&data[range]));
            written[b] = true;
            while prefix < written.len() && written[prefix] {
                prefix += 1;
            }
            v.upto((prefix * block).min(size) as u64);
            if round == order.len() / 2 {
                v.reset();
                v.upto((prefix * block).min(size) as u64);
            }
        }
        assert_eq!(v.finish().await.unwrap(), expected);
        std::fs::remove_file(&path).unwrap();
    }
}
