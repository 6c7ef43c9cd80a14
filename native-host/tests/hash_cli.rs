//! `swarmload-host hash` against digests from independent implementations
//! (Python's hashlib and libtorrent; see `wasm-core/tests/vectors/generate.py`).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn content(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 31 + (i >> 8)) & 0xff) as u8).collect()
}

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("swarmload-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn host() -> Command {
    Command::new(env!("CARGO_BIN_EXE_swarmload-host"))
}

#[test]
fn digests_match_the_reference_vectors() {
    let vectors: Value =
        serde_json::from_str(include_str!("../../wasm-core/tests/vectors/reference.json")).unwrap();
    let dir = tempdir("vectors");
    for v in vectors.as_array().unwrap() {
        let size = v["size"].as_u64().unwrap() as usize;
        let path = dir.join(format!("f{size}"));
        std::fs::write(&path, content(size)).unwrap();
        let out = host()
            .arg("hash")
            .arg("--json")
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        for key in ["sha256", "repr_digest", "root", "info_hash", "size"] {
            assert_eq!(got[key], v[key], "size {size}, key {key}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn text_output_names_every_digest() {
    let dir = tempdir("text");
    let path = dir.join("one");
    std::fs::write(&path, content(16385)).unwrap();
    let out = host().arg("hash").arg(&path).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for label in [
        "sha256:",
        "Repr-Digest: sha-256=:",
        "root:",
        "info hash:",
        "size:        16385 bytes",
    ] {
        assert!(text.contains(label), "{label} missing from:\n{text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn empty_file_has_no_root() {
    let dir = tempdir("empty");
    let path = dir.join("empty");
    std::fs::write(&path, b"").unwrap();
    let out = host().args(["hash", "--json"]).arg(&path).output().unwrap();
    assert!(out.status.success());
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got["sha256"],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(got["root"], Value::Null);
    assert_eq!(got["size"], 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_or_unreadable_files_fail_clearly() {
    let out = host()
        .args(["hash", "/nonexistent/file.iso"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("cannot open /nonexistent/file.iso"), "{err}");

    let out = host().args(["hash", "/"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("not a regular file")
    );

    let out = host().args(["hash"]).output().unwrap();
    assert!(!out.status.success(), "a missing argument is a usage error");
}
