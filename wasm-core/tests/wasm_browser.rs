//! The core compiled to wasm32 and run in headless Chromium (wasm-bindgen-test):
//! the same digests as natively, and a swarm that completes inside the browser.
#![cfg(target_arch = "wasm32")]

mod vectors;

use std::collections::VecDeque;

use serde::Deserialize;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

use swarmload_core::sim::{NodeSpec, OriginSpec, Role, Scenario, run};
use swarmload_core::wasm::{WasmEngine, WasmHasher};

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
