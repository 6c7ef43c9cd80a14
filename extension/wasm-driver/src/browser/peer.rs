//! One connected peer: its data channel, with sends held back above a high
//! watermark of buffered bytes and released as the buffer drains. Chromium closes a
//! channel whose buffer passes 16 MiB, so the watermark stays well below it.

use std::collections::VecDeque;

use bytes::Bytes;
use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, RtcDataChannel, RtcPeerConnection, RtcPeerConnectionState};

use super::WeakHandle;
use swarmload_core::engine::{Event, PeerId};
use swarmload_core::tracker_protocol::Id20;

const HIGH_WATERMARK: u32 = 4 * 1024 * 1024;
const LOW_WATERMARK: u32 = 1024 * 1024;

pub struct Peer {
    pub remote: Id20,
    pc: RtcPeerConnection,
    dc: RtcDataChannel,
    queue: VecDeque<Bytes>,
    handlers: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Peer {
    pub fn new(remote: Id20, pc: RtcPeerConnection, dc: RtcDataChannel) -> Peer {
        Peer {
            remote,
            pc,
            dc,
            queue: VecDeque::new(),
            handlers: Vec::new(),
        }
    }

    /// Routes the channel's messages, drains and closes to the engine as peer `id`.
    pub fn attach(&mut self, weak: WeakHandle, id: u64) {
        self.dc.set_buffered_amount_low_threshold(LOW_WATERMARK);
        let w = weak.clone();
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let Some(h) = w.upgrade() else { return };
            let Ok(ev) = ev.dyn_into::<MessageEvent>() else {
                return;
            };
            // Text frames are no part of the wire protocol: the engine sees them as
            // empty messages and answers as to any malformed one.
            let data = match ev.data().dyn_into::<ArrayBuffer>() {
                Ok(buf) => Uint8Array::new(&buf).to_vec(),
                Err(_) => Vec::new(),
            };
            super::feed(
                &h,
                Event::PeerMessage {
                    peer: PeerId(id),
                    data: Bytes::from(data),
                },
            );
        });
        let w = weak.clone();
        let on_low = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            if let Some(h) = w.upgrade()
                && let Some(p) = h.borrow_mut().peers.get_mut(&id)
            {
                p.drain();
            }
        });
        let w = weak.clone();
        let on_close = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            if let Some(h) = w.upgrade() {
                super::peer_gone(&h, id);
            }
        });
        let w = weak;
        let pc = self.pc.clone();
        let on_state = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            if matches!(
                pc.connection_state(),
                RtcPeerConnectionState::Failed | RtcPeerConnectionState::Closed
            ) && let Some(h) = w.upgrade()
            {
                super::peer_gone(&h, id);
            }
        });
        self.dc
            .set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        self.dc
            .set_onbufferedamountlow(Some(on_low.as_ref().unchecked_ref()));
        self.dc.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        self.pc
            .set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
        self.handlers = vec![on_message, on_low, on_close, on_state];
    }

    pub fn send(&mut self, data: Bytes) {
        if !self.queue.is_empty() || self.dc.buffered_amount() >= HIGH_WATERMARK {
            self.queue.push_back(data);
            return;
        }
        // A failed send means the channel is closing; its close event follows.
        let _ = self.dc.send_with_u8_array(&data);
    }

    fn drain(&mut self) {
        while self.dc.buffered_amount() < HIGH_WATERMARK {
            let Some(data) = self.queue.pop_front() else {
                break;
            };
            let _ = self.dc.send_with_u8_array(&data);
        }
    }

    pub fn close(self) {
        self.dc.set_onmessage(None);
        self.dc.set_onbufferedamountlow(None);
        self.dc.set_onclose(None);
        self.pc.set_onconnectionstatechange(None);
        self.dc.close();
        self.pc.close();
        // The close may come from inside one of these handlers: they are let go
        // only after it has returned.
        let handlers = self.handlers;
        wasm_bindgen_futures::spawn_local(async move { drop(handlers) });
    }
}
