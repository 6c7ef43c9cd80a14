//! The JavaScript face of the core, for the browser extension.
//!
//! [`dto`] maps engine events and actions to plain serde shapes (`{type: "...", ...}`,
//! bytes as `Uint8Array`); it compiles everywhere so it is tested natively. The
//! `#[wasm_bindgen]` classes in `bindings`, and the browser-only peer in `browser`,
//! exist only on wasm32.

pub mod dto;
pub mod http;

#[cfg(target_arch = "wasm32")]
mod bindings;
#[cfg(target_arch = "wasm32")]
pub use bindings::*;
#[cfg(target_arch = "wasm32")]
pub mod browser;
