//! Swarmload in the browser: the core's wasm binding and the browser-only peer's driver.
//!
//! This package is to `swarmload-core` what `quinn` is to `quinn-proto`: the core
//! decides, this crate moves bytes with what the browser offers.
//!
//! - [`dto`] maps engine events and actions to plain serde shapes (`{type: "...", ...}`,
//!   bytes as `Uint8Array`); it compiles everywhere so it is tested natively.
//! - `bindings` (wasm32 only): the `#[wasm_bindgen]` classes and functions the
//!   extension's JavaScript imports (`WasmHasher`, `WasmEngine`, policy and digest
//!   helpers).
//! - `browser` (wasm32 only): `BrowserTransfer`, the browser-only peer over the
//!   browser's own RTCPeerConnection, WebSocket, `fetch()` and OPFS.

pub mod dto;

#[cfg(target_arch = "wasm32")]
mod bindings;
#[cfg(target_arch = "wasm32")]
pub use bindings::*;
#[cfg(target_arch = "wasm32")]
pub mod browser;
