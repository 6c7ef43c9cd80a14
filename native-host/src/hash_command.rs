//! `swarmload-host hash FILE [--json]`: what an origin operator publishes.

use std::path::Path;

use serde::Serialize;

use crate::file_digest::{FileDigestError, digest_file};

#[derive(Serialize)]
struct HashReport {
    sha256: String,
    repr_digest: String,
    /// `null` for an empty file, which has no BEP 52 root.
    root: Option<String>,
    info_hash: String,
    size: u64,
}

pub fn run(file: &Path, json: bool) -> Result<(), FileDigestError> {
    let (digests, root) = digest_file(file)?;
    let report = HashReport {
        sha256: digests.sha256.to_hex(),
        repr_digest: digests.sha256.repr_digest_header(),
        root: root.map(|r| r.to_hex()),
        info_hash: digests.info_hash().to_hex(),
        size: digests.size,
    };
    if json {
        // Plain strings and numbers: serialization cannot fail.
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        println!("file:        {}", file.display());
        println!("size:        {} bytes", report.size);
        println!("sha256:      {}", report.sha256);
        println!("Repr-Digest: {}", report.repr_digest);
        match &report.root {
            Some(root) => println!("root:        {root}  (BEP 52 pieces root)"),
            None => println!("root:        none (an empty file has no BEP 52 root)"),
        }
        println!("info hash:   {}", report.info_hash);
    }
    Ok(())
}
