//! The core compiled to wasm32 and run in headless Chromium (wasm-bindgen-test):
//! the same digests as natively, and a swarm that completes inside the browser.
#![cfg(target_arch = "wasm32")]

#[path = "../../../wasm-core/tests/vectors/mod.rs"]
mod vectors;

use std::collections::VecDeque;

use serde::Deserialize;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

use swarmload_browser::{WasmEngine, WasmHasher};
use swarmload_core::sim::{NodeSpec, OriginSpec, Role, Scenario, run};

wasm_bindgen_test_configure!(run_in_browser);

#[derive(Deserialize)]
struct Digests {
    sha256: String,
    repr_digest: String,
    root: Option<String>,
    info_hash: String,
    size: u64,
}

#[wasm_bindgen_test]
fn digests_equal_the_native_reference() {
    for v in vectors::vectors() {
        let data = vectors::content(v.size);
        let mut h = WasmHasher::new();
        for chunk in data.chunks(16 * 1024) {
            h.update(chunk);
        }
        let d: Digests = serde_wasm_bindgen::from_value(h.finish().unwrap()).unwrap();
        assert_eq!(d.sha256, v.sha256);
        assert_eq!(d.repr_digest, v.repr_digest);
        assert_eq!(d.root.as_deref(), Some(v.root.as_str()));
        assert_eq!(d.info_hash, v.info_hash);
        assert_eq!(d.size, v.size as u64);
    }
}

#[wasm_bindgen_test]
fn simd_leaves_equal_scalar_sha256() {
    use sha2::Digest;
    let block = 16 * 1024;
    for seed in 0..8usize {
        let data: Vec<u8> = (0..4 * block)
            .map(|i| (i * 7 + seed * 131 + i / 777) as u8)
            .collect();
        let four = swarmload_core::content::hash_four_blocks([
            &data[..block],
            &data[block..2 * block],
            &data[2 * block..3 * block],
            &data[3 * block..],
        ]);
        for (i, h) in four.iter().enumerate() {
            let want: [u8; 32] = sha2::Sha256::digest(&data[i * block..(i + 1) * block]).into();
            assert_eq!(*h, want, "seed {seed} lane {i}");
        }
    }
}

#[wasm_bindgen_test]
fn a_simulated_swarm_completes_inside_wasm() {
    const MB: u64 = 1 << 20;
    let mut sc = Scenario::new(4 * MB, 3);
    sc.origin = Some(OriginSpec { rate: 2 * MB });
    sc.nodes.push(NodeSpec::seed(4 * MB));
    for _ in 0..3 {
        sc.nodes.push(NodeSpec::downloader(2 * MB, 8 * MB));
    }
    let out = run(&sc);
    for (spec, node) in sc.nodes.iter().zip(&out.nodes) {
        if spec.role == Role::Downloader {
            assert!(node.completed_at.is_some(), "{node:?}");
            assert!(node.content_ok);
            assert_eq!(node.delivered, sc.size);
        }
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Act {
    FetchOrigin {
        request: u64,
        start: u64,
        end: u64,
    },
    Write {
        offset: u64,
        data: serde_bytes::ByteBuf,
    },
    VerifyContent,
    Deliverable {
        upto: u64,
    },
    Completed,
    Failed {
        reason: String,
    },
    #[serde(other)]
    Other,
}

fn event(v: serde_json::Value) -> JsValue {
    // Byte arrays go through as Uint8Array, as the extension sends them.
    let ser = serde_wasm_bindgen::Serializer::json_compatible();
    serde::Serialize::serialize(&v, &ser).unwrap()
}

/// Drives a `WasmEngine` through its JavaScript API against an in-memory origin.
#[wasm_bindgen_test]
fn the_js_engine_api_downloads_from_an_origin() {
    let data = vectors::content(300_000);
    let sha = {
        let mut h = WasmHasher::new();
        h.update(&data);
        let d: Digests = serde_wasm_bindgen::from_value(h.finish().unwrap()).unwrap();
        d.sha256
    };
    let meta = event(serde_json::json!({"sha256": sha, "size": data.len()}));
    let mut engine = WasmEngine::new(meta, JsValue::UNDEFINED).unwrap();
    let mut store = vec![0u8; data.len()];
    let mut now = 0.0;
    let mut pending: VecDeque<JsValue> = VecDeque::new();
    let mut done = false;
    let mut delivered = 0;
    engine.handle_timeout(now);
    for _ in 0..10_000 {
        while let Some(a) = Some(engine.poll_action().unwrap()).filter(|a| !a.is_undefined()) {
            match serde_wasm_bindgen::from_value::<Act>(a).unwrap() {
                Act::FetchOrigin {
                    request,
                    start,
                    end,
                } => {
                    for off in (start..end).step_by(10_000) {
                        let stop = (off + 10_000).min(end);
                        let bytes = js_sys::Uint8Array::from(&data[off as usize..stop as usize]);
                        let ev = js_sys::Object::new();
                        js_sys::Reflect::set(&ev, &"type".into(), &"origin_data".into()).unwrap();
                        js_sys::Reflect::set(&ev, &"request".into(), &(request as f64).into())
                            .unwrap();
                        js_sys::Reflect::set(&ev, &"offset".into(), &(off as f64).into()).unwrap();
                        js_sys::Reflect::set(&ev, &"data".into(), &bytes).unwrap();
                        pending.push_back(ev.into());
                    }
                }
                Act::Write { offset, data } => {
                    store[offset as usize..offset as usize + data.len()].copy_from_slice(&data);
                }
                Act::VerifyContent => {
                    let mut h = WasmHasher::new();
                    h.update(&store);
                    let d: Digests = serde_wasm_bindgen::from_value(h.finish().unwrap()).unwrap();
                    pending.push_back(event(
                        serde_json::json!({"type": "content_digest", "sha256": d.sha256}),
                    ));
                }
                Act::Deliverable { upto } => delivered = upto,
                Act::Completed => done = true,
                Act::Failed { reason } => panic!("failed: {reason}"),
                Act::Other => {}
            }
        }
        if done {
            break;
        }
        now += 1.0;
        match pending.pop_front() {
            Some(ev) => engine.handle(now, ev).unwrap(),
            None => engine.handle_timeout(now),
        }
    }
    assert!(done, "download did not complete");
    assert_eq!(store, data);
    assert_eq!(delivered, data.len() as u64);
    // A malformed event is a JS error, not a crash.
    assert!(
        engine
            .handle(now, event(serde_json::json!({"type": "nonsense"})))
            .is_err()
    );
}

// ---- the browser-only peer's driver, against the test runner's own HTTP server ----

mod browser_peer {
    use serde::Deserialize;
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use wasm_bindgen_test::*;

    use swarmload_browser::WasmHasher;
    use swarmload_browser::browser::{BrowserTransfer, Storage, probe_origin, rtc};

    #[derive(Deserialize)]
    struct Probe {
        status: u16,
        size: Option<u64>,
        sha256: Option<String>,
        digest_source: Option<String>,
        ranges: bool,
    }

    #[derive(Debug, Deserialize)]
    struct Progress {
        phase: String,
        size: u64,
        have: u64,
        from_origin: u64,
        from_peers: u64,
        error: Option<String>,
    }

    /// A file the runner serves: its own wasm module.
    async fn served_file() -> (String, Vec<u8>) {
        let window = web_sys::window().unwrap();
        let url = format!(
            "{}/wasm-bindgen-test_bg.wasm",
            window.location().origin().unwrap()
        );
        let resp: web_sys::Response = JsFuture::from(window.fetch_with_str(&url))
            .await
            .unwrap()
            .unchecked_into();
        assert_eq!(resp.status(), 200, "{url}");
        let buf = JsFuture::from(resp.array_buffer().unwrap()).await.unwrap();
        (url, js_sys::Uint8Array::new(&buf).to_vec())
    }

    fn sha256_hex(data: &[u8]) -> String {
        let mut h = WasmHasher::new();
        for c in data.chunks(1 << 16) {
            h.update(c);
        }
        let d: serde_json::Value = serde_wasm_bindgen::from_value(h.finish().unwrap()).unwrap();
        d["sha256"].as_str().unwrap().to_string()
    }

    /// In-memory storage with the OPFS storage's interface (a unit-test stand-in).
    fn memory_storage(size: usize) -> Storage {
        let make = js_sys::Function::new_with_args(
            "size",
            "const data = new Uint8Array(size);
             return { data,
               write(offset, bytes) { data.set(bytes, offset); },
               read(offset, len) { return Promise.resolve(data.slice(offset, offset + len)); } };",
        );
        make.call1(&JsValue::NULL, &JsValue::from(size as f64))
            .unwrap()
            .unchecked_into()
    }

    /// The same, with the worker's hashing interface: it records how far the bytes
    /// were final (`hashTo`) and answers `digest` with WebCrypto over what it holds
    /// (or, `lie`, with the digest of other bytes).
    fn hashing_storage(size: usize, lie: bool) -> Storage {
        let make = js_sys::Function::new_with_args(
            "size, lie",
            "const data = new Uint8Array(size);
             return { data, hashed: [], resets: 0, digests: [],
               write(offset, bytes) { data.set(bytes, offset); },
               read(offset, len) { return Promise.resolve(data.slice(offset, offset + len)); },
               hashTo(upto) { this.hashed.push(upto); },
               hashReset() { this.resets += 1; },
               async digest(n) {
                 this.digests.push(n);
                 const bytes = lie ? new Uint8Array(n) : data.slice(0, n);
                 return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
               } };",
        );
        make.call2(
            &JsValue::NULL,
            &JsValue::from(size as f64),
            &JsValue::from(lie),
        )
        .unwrap()
        .unchecked_into()
    }

    fn numbers(storage: &JsValue, field: &str) -> Vec<f64> {
        let v = js_sys::Reflect::get(storage, &field.into()).unwrap();
        js_sys::Array::from(&v)
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    }

    fn stored(storage: &JsValue) -> Vec<u8> {
        let data = js_sys::Reflect::get(storage, &"data".into()).unwrap();
        js_sys::Uint8Array::new(&data).to_vec()
    }

    #[wasm_bindgen_test]
    async fn the_probe_reads_size_and_a_url_digest() {
        let (url, bytes) = served_file().await;
        let digest = sha256_hex(&bytes);
        let p: Probe = serde_wasm_bindgen::from_value(
            probe_origin(format!("{url}#sha256={digest}"), None)
                .await
                .unwrap(),
        )
        .unwrap();
        assert!(p.status == 200 || p.status == 206, "status {}", p.status);
        // The runner's server may stream without a length; when it names one, it is
        // read right.
        assert!(
            p.size.is_none_or(|s| s == bytes.len() as u64),
            "{:?}",
            p.size
        );
        assert_eq!(p.sha256.as_deref(), Some(digest.as_str()));
        assert_eq!(p.digest_source.as_deref(), Some("explicit"));
        let plain: Probe =
            serde_wasm_bindgen::from_value(probe_origin(url, None).await.unwrap()).unwrap();
        assert_eq!(plain.sha256, None, "no digest without a trusted source");
        let _ = plain.ranges;
    }

    async fn download(
        url: &str,
        sha256: &str,
        size: usize,
        ranges: bool,
    ) -> (Result<(), JsValue>, Progress, Vec<u8>) {
        download_into(url, sha256, size, ranges, memory_storage(size)).await
    }

    async fn download_into(
        url: &str,
        sha256: &str,
        size: usize,
        ranges: bool,
        storage: Storage,
    ) -> (Result<(), JsValue>, Progress, Vec<u8>) {
        let handle: JsValue = AsRef::<JsValue>::as_ref(&storage).clone();
        // A plain object, as the extension passes it.
        let options = serde::Serialize::serialize(
            &serde_json::json!({"url": url, "sha256": sha256, "size": size, "ranges": ranges}),
            &serde_wasm_bindgen::Serializer::json_compatible(),
        )
        .unwrap();
        let t = BrowserTransfer::new(options, r#"{"trackers": []}"#, storage)
            .map_err(JsValue::from)
            .unwrap();
        t.start().unwrap();
        let outcome = JsFuture::from(t.done()).await.map(|_| ());
        let progress: Progress = serde_wasm_bindgen::from_value(t.stats().unwrap()).unwrap();
        t.stop();
        (outcome, progress, stored(&handle))
    }

    #[wasm_bindgen_test]
    async fn with_no_swarm_the_origin_alone_completes_the_verified_file() {
        let (url, bytes) = served_file().await;
        let probe: Probe =
            serde_wasm_bindgen::from_value(probe_origin(url.clone(), None).await.unwrap()).unwrap();
        let (outcome, p, data) =
            download(&url, &sha256_hex(&bytes), bytes.len(), probe.ranges).await;
        assert!(outcome.is_ok(), "{:?} {:?}", outcome, p.error);
        assert_eq!(p.phase, "seeding");
        assert_eq!((p.size, p.have), (bytes.len() as u64, bytes.len() as u64));
        assert_eq!(p.from_origin, bytes.len() as u64);
        assert_eq!(p.from_peers, 0);
        assert!(data == bytes, "the stored file is the origin's");
    }

    #[wasm_bindgen_test]
    async fn a_storage_that_hashes_as_bytes_become_final_gives_the_whole_files_digest() {
        let (url, bytes) = served_file().await;
        let probe: Probe =
            serde_wasm_bindgen::from_value(probe_origin(url.clone(), None).await.unwrap()).unwrap();
        let digest = sha256_hex(&bytes);
        let storage = hashing_storage(bytes.len(), false);
        let handle: JsValue = AsRef::<JsValue>::as_ref(&storage).clone();
        let (outcome, p, data) =
            download_into(&url, &digest, bytes.len(), probe.ranges, storage).await;
        assert!(outcome.is_ok(), "{:?} {:?}", outcome, p.error);
        assert!(data == bytes);
        // Asked once, for the whole file; told how far the final bytes reached, in
        // order, never past the end.
        assert_eq!(numbers(&handle, "digests"), vec![bytes.len() as f64]);
        let hashed = numbers(&handle, "hashed");
        assert!(!hashed.is_empty(), "told as the bytes became final");
        assert!(hashed.windows(2).all(|w| w[0] <= w[1]), "{hashed:?}");
        assert!(
            hashed.iter().all(|&u| u <= bytes.len() as f64),
            "{hashed:?}"
        );

        // A storage whose digest names other bytes: the download fails visibly.
        let storage = hashing_storage(bytes.len(), true);
        let (outcome, p, _) =
            download_into(&url, &digest, bytes.len(), probe.ranges, storage).await;
        assert!(outcome.is_err(), "{p:?}");
        assert_eq!(p.phase, "failed");
    }

    #[wasm_bindgen_test]
    async fn content_that_does_not_match_its_digest_fails_visibly() {
        let (url, bytes) = served_file().await;
        let probe: Probe =
            serde_wasm_bindgen::from_value(probe_origin(url.clone(), None).await.unwrap()).unwrap();
        let wrong = "ab".repeat(32);
        let (outcome, p, _) = download(&url, &wrong, bytes.len(), probe.ranges).await;
        assert!(outcome.is_err(), "a wrong file must not complete");
        assert_eq!(p.phase, "failed");
        assert!(p.error.is_some());
    }

    #[wasm_bindgen_test]
    async fn an_offer_is_complete_and_carries_the_data_channel() {
        let pc = rtc::connection(&[]).unwrap();
        let dc = rtc::data_channel(&pc);
        assert_eq!(dc.label(), rtc::LABEL);
        let sdp = rtc::offer(&pc).await.unwrap();
        assert_eq!(sdp["type"], "offer");
        let text = sdp["sdp"].as_str().unwrap();
        assert!(text.contains("m=application"), "{text}");
        assert!(text.contains("webrtc-datachannel"), "{text}");
        pc.close();
    }
}
