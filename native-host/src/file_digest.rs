//! Both digests of a file at the cost of about one: the flat SHA-256 on one thread,
//! the 16 KiB leaves and their Merkle tree on another, fed the same buffers.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use sha2::{Digest, Sha256};
use swarmload_core::content::{ContentDigests, Hash32, LeafHasher};

/// Read size: large enough to amortise syscalls, small enough to stay in L2/L3.
const CHUNK: usize = 1024 * 1024;
/// Buffers in flight between the two threads; bounds memory to `BUFFERS * CHUNK`.
const BUFFERS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum FileDigestError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the hashing thread stopped unexpectedly")]
    Worker,
}

/// Hashes a file; the root of an empty file is `None` (BEP 52 gives it none).
pub fn digest_file(path: &Path) -> Result<(ContentDigests, Option<Hash32>), FileDigestError> {
    digest_file_inner(path, false).map(|(d, root, _)| (d, root))
}

/// Hashes a file and keeps its leaf layer (32 bytes per 16 KiB block).
pub fn digest_file_with_leaves(
    path: &Path,
) -> Result<(ContentDigests, Vec<Hash32>), FileDigestError> {
    digest_file_inner(path, true).map(|(d, _, leaves)| (d, leaves.unwrap_or_default()))
}

type Digested = (ContentDigests, Option<Hash32>, Option<Vec<Hash32>>);

fn digest_file_inner(path: &Path, keep_leaves: bool) -> Result<Digested, FileDigestError> {
    let mut file = File::open(path).map_err(|source| FileDigestError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let meta = file.metadata().map_err(|source| FileDigestError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_file() {
        return Err(FileDigestError::NotAFile {
            path: path.to_path_buf(),
        });
    }

    let (to_leaves, leaves_rx) = mpsc::sync_channel::<Vec<u8>>(BUFFERS);
    let (recycle, free) = mpsc::sync_channel::<Vec<u8>>(BUFFERS);
    let leaf_thread = thread::spawn(move || {
        let mut leaves = if keep_leaves {
            LeafHasher::keeping_leaves()
        } else {
            LeafHasher::new()
        };
        for buf in leaves_rx {
            leaves.update(&buf);
            // The reader may have finished; a closed pool just drops the buffer.
            let _ = recycle.send(buf);
        }
        leaves
    });

    let mut flat = Sha256::new();
    let mut spare = BUFFERS;
    let read_result = loop {
        let mut buf = if spare > 0 {
            spare -= 1;
            vec![0u8; CHUNK]
        } else {
            match free.recv() {
                Ok(b) => b,
                Err(_) => break Err(FileDigestError::Worker),
            }
        };
        buf.resize(CHUNK, 0);
        match read_full(&mut file, &mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                buf.truncate(n);
                flat.update(&buf);
                if to_leaves.send(buf).is_err() {
                    break Err(FileDigestError::Worker);
                }
            }
            Err(source) => {
                break Err(FileDigestError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    };
    drop(to_leaves);
    let leaves = leaf_thread.join().map_err(|_| FileDigestError::Worker)?;
    read_result?;
    let size = leaves.size();
    let (root, layer) = leaves.finish();
    let digests = ContentDigests {
        sha256: Hash32(flat.finalize().into()),
        root,
        size,
    };
    Ok((digests, (size > 0).then_some(root), layer))
}

/// Fills `buf` unless the file ends first; returns the bytes read.
fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use swarmload_core::content::ContentHasher;

    #[test]
    fn matches_the_single_threaded_hasher() {
        let dir = std::env::temp_dir().join(format!("swarmload-digest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for size in [0usize, 1, 16384, CHUNK - 1, CHUNK, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..size).map(|i| (i * 7 + i / 300) as u8).collect();
            let path = dir.join(format!("f{size}"));
            std::fs::write(&path, &data).unwrap();
            let (got, root) = digest_file(&path).unwrap();
            let mut h = ContentHasher::new();
            h.update(&data);
            assert_eq!(got, h.finish(), "size {size}");
            assert_eq!(root.is_some(), size > 0);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_and_directory_are_errors() {
        assert!(matches!(
            digest_file(Path::new("/nonexistent/swarmload")),
            Err(FileDigestError::Open { .. })
        ));
        assert!(matches!(
            digest_file(Path::new("/")),
            Err(FileDigestError::NotAFile { .. })
        ));
    }
}
