//! The browser's RTCPeerConnection through web-sys: complete (non-trickle) offers and
//! answers, as the tracker protocol carries them, and one reliable, ordered data
//! channel per peer with the native host's label.

use std::cell::Cell;

use js_sys::{Array, Promise};
use serde_json::{Value, json};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    RtcConfiguration, RtcDataChannel, RtcDataChannelInit, RtcDataChannelType, RtcIceGatheringState,
    RtcIceServer, RtcPeerConnection, RtcSdpType, RtcSessionDescriptionInit,
};

use swarmload_core::policy::IceServer;

/// The data channel's label; the native host uses the same.
pub const LABEL: &str = "swarmload/1";
/// The longest wait for ICE gathering: a STUN server that does not answer (the
/// default ones, where the Internet is out of reach) must not hold an offer back for
/// long. Host candidates come at once; a reachable STUN server answers within a
/// round trip, well under this. (The native host leaves out ICE servers whose names
/// do not resolve within the same half second.)
const GATHER_TIMEOUT_MS: i32 = 500;

pub fn js_err(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Chrome allows about 500 `RTCPeerConnection`s per document over its lifetime
/// (crbug 41378764), closed ones included. Each one made here is counted, and none
/// is made past the budget: the page is recycled before (peer/service.js), and
/// until then a refused connection is an attempt that failed.
pub const DEFAULT_CONNECTION_BUDGET: u32 = 480;

thread_local! {
    static MADE: Cell<u32> = const { Cell::new(0) };
    static BUDGET: Cell<u32> = const { Cell::new(DEFAULT_CONNECTION_BUDGET) };
}

/// How many peer connections this page has made.
#[wasm_bindgen]
pub fn peer_connections_made() -> u32 {
    MADE.with(Cell::get)
}

/// Sets how many peer connections this page may make in its lifetime.
#[wasm_bindgen]
pub fn set_peer_connection_budget(n: u32) {
    BUDGET.with(|b| b.set(n));
}

pub fn connection(ice: &[IceServer]) -> Result<RtcPeerConnection, String> {
    let made = MADE.with(Cell::get);
    if made >= BUDGET.with(Cell::get) {
        return Err(format!(
            "this page has made its {made} peer connections; it is recycled before more"
        ));
    }
    MADE.with(|m| m.set(made + 1));
    let servers = Array::new();
    for s in ice {
        let server = RtcIceServer::new();
        let urls: Array = s.urls.iter().map(|u| JsValue::from_str(u)).collect();
        server.set_urls(&urls);
        if let Some(u) = &s.username {
            server.set_username(u);
        }
        if let Some(c) = &s.credential {
            server.set_credential(c);
        }
        servers.push(&server);
    }
    let cfg = RtcConfiguration::new();
    cfg.set_ice_servers(&servers);
    RtcPeerConnection::new_with_configuration(&cfg).map_err(js_err)
}

pub fn data_channel(pc: &RtcPeerConnection) -> RtcDataChannel {
    let init = RtcDataChannelInit::new();
    init.set_ordered(true);
    let dc = pc.create_data_channel_with_data_channel_dict(LABEL, &init);
    dc.set_binary_type(RtcDataChannelType::Arraybuffer);
    dc
}

/// Waits until ICE gathering completes (or the timeout), so the description holds
/// every candidate.
async fn gathered(pc: &RtcPeerConnection) {
    if pc.ice_gathering_state() == RtcIceGatheringState::Complete {
        return;
    }
    let done = Promise::new(&mut |resolve, _| {
        let pc2 = pc.clone();
        let r = resolve.clone();
        let on_change = Closure::<dyn FnMut()>::new(move || {
            if pc2.ice_gathering_state() == RtcIceGatheringState::Complete {
                let _ = r.call0(&JsValue::NULL);
            }
        });
        pc.set_onicegatheringstatechange(Some(on_change.as_ref().unchecked_ref()));
        on_change.forget();
        if let Some(w) = web_sys::window() {
            let _ = w
                .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, GATHER_TIMEOUT_MS);
        }
    });
    let _ = JsFuture::from(done).await;
    pc.set_onicegatheringstatechange(None);
}

fn local_description(pc: &RtcPeerConnection) -> Result<Value, String> {
    let d = pc
        .local_description()
        .ok_or_else(|| "no local description".to_string())?;
    let kind = match d.type_() {
        RtcSdpType::Offer => "offer",
        RtcSdpType::Answer => "answer",
        _ => return Err("unexpected description type".into()),
    };
    Ok(json!({"type": kind, "sdp": d.sdp()}))
}

fn description(v: &Value, kind: RtcSdpType) -> Result<RtcSessionDescriptionInit, String> {
    let sdp = v
        .get("sdp")
        .and_then(Value::as_str)
        .ok_or_else(|| "a description without sdp".to_string())?;
    let d = RtcSessionDescriptionInit::new(kind);
    d.set_sdp(sdp);
    Ok(d)
}

/// Sets the description `created` (from createOffer or createAnswer) as the local
/// one and returns it once its candidates are gathered.
async fn describe_locally(pc: &RtcPeerConnection, created: Promise) -> Result<Value, String> {
    let init: RtcSessionDescriptionInit = JsFuture::from(created)
        .await
        .map_err(js_err)?
        .unchecked_into();
    JsFuture::from(pc.set_local_description(&init))
        .await
        .map_err(js_err)?;
    gathered(pc).await;
    local_description(pc)
}

async fn set_remote(pc: &RtcPeerConnection, v: &Value, kind: RtcSdpType) -> Result<(), String> {
    let d = description(v, kind)?;
    JsFuture::from(pc.set_remote_description(&d))
        .await
        .map_err(js_err)?;
    Ok(())
}

/// Creates the offer (with its data channel) and gathers its candidates.
pub async fn offer(pc: &RtcPeerConnection) -> Result<Value, String> {
    describe_locally(pc, pc.create_offer()).await
}

/// Takes the remote answer to our offer.
pub async fn accept_answer(pc: &RtcPeerConnection, answer: &Value) -> Result<(), String> {
    set_remote(pc, answer, RtcSdpType::Answer).await
}

/// Answers a remote offer; the data channel arrives through `ondatachannel`.
pub async fn answer(pc: &RtcPeerConnection, offer: &Value) -> Result<Value, String> {
    set_remote(pc, offer, RtcSdpType::Offer).await?;
    describe_locally(pc, pc.create_answer()).await
}
