//! Hashing speed of the core compiled to wasm, in headless Chromium. Built only for
//! `cargo xtask bench core` (feature `wasm-bench`); prints RESULT lines.
#![cfg(all(target_arch = "wasm32", feature = "wasm-bench"))]

use wasm_bindgen_test::*;

use sha2::Digest;
use swarmload_browser::WasmHasher;
use swarmload_core::content::LeafHasher;

wasm_bindgen_test_configure!(run_in_browser);

const SIZE: usize = 256 << 20;

fn buffer() -> Vec<u8> {
    (0..SIZE).map(|i| (i * 31 + (i >> 9)) as u8).collect()
}

fn mb_per_sec(chunk: usize, data: &[u8]) -> f64 {
    let start = js_sys::Date::now();
    let mut h = WasmHasher::new();
    for c in data.chunks(chunk) {
        h.update(c);
    }
    let _ = h.finish();
    let secs = (js_sys::Date::now() - start) / 1000.0;
    data.len() as f64 / secs / 1e6
}

fn timed(data: &[u8], mut f: impl FnMut(&[u8])) -> f64 {
    let start = js_sys::Date::now();
    f(data);
    let secs = (js_sys::Date::now() - start) / 1000.0;
    data.len() as f64 / secs / 1e6
}

#[wasm_bindgen_test]
fn wasm_single_digest_speed() {
    let data = buffer();
    let flat = |d: &[u8]| {
        let mut h = sha2::Sha256::new();
        for c in d.chunks(16 * 1024) {
            h.update(c);
        }
        let _ = h.finalize();
    };
    let leaves = |d: &[u8]| {
        let mut h = LeafHasher::new();
        for c in d.chunks(16 * 1024) {
            h.update(c);
        }
        let _ = h.finish();
    };
    timed(&data[..32 << 20], flat);
    let f = (0..3).map(|_| timed(&data, flat)).fold(0.0, f64::max);
    let l = (0..3).map(|_| timed(&data, leaves)).fold(0.0, f64::max);
    let simd = |d: &[u8]| {
        for four in d.chunks_exact(64 * 1024) {
            let b = 16 * 1024;
            let _ = swarmload_core::content::hash_four_blocks([
                &four[..b],
                &four[b..2 * b],
                &four[2 * b..3 * b],
                &four[3 * b..],
            ]);
        }
    };
    let s4 = (0..3).map(|_| timed(&data, simd)).fold(0.0, f64::max);
    console_log!("RESULT wasm-simd4 {:.0} MB/s", s4);
    console_log!("RESULT wasm-sha256 {:.0} MB/s", f);
    console_log!("RESULT wasm-leaves {:.0} MB/s", l);
}

#[wasm_bindgen_test]
fn wasm_hashing_speed() {
    let data = buffer();
    // Warm up so V8 has tiered the hashing code up, as it has in a long session.
    mb_per_sec(16 * 1024, &data[..32 << 20]);
    for chunk in [16 * 1024, 1024 * 1024] {
        let best = (0..3).map(|_| mb_per_sec(chunk, &data)).fold(0.0, f64::max);
        console_log!("RESULT wasm-hash chunk={} {:.0} MB/s", chunk, best);
    }
}
