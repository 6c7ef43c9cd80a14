//! Packets on a TURN-relayed connection go out in the driver pass that made them
//! (PATCHED.md).
//!
//! Two relay-only peer connections reach each other through a mock TURN server that
//! relays between their allocations, all on one `MockUDPNetwork` under virtual clocks
//! advanced in 10 ms steps. Once ICE has connected, the DTLS handshake is packets
//! answering packets: it must complete before DTLS's first retransmission timer
//! (1 s) could have fired, as it does between host candidates. With the published
//! driver each relayed flight waited in a queue for the next timer, and the handshake
//! took about 2 s of virtual time.
//!
//! Run with `cargo test --features runtime-mock --test turn_relay_flush`.
#![cfg(feature = "runtime-mock")]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rtc::stun::attributes::{ATTR_NONCE, ATTR_REALM};
use rtc::stun::error_code::CODE_UNAUTHORIZED;
use rtc::stun::message::{
    CLASS_ERROR_RESPONSE, CLASS_INDICATION, CLASS_SUCCESS_RESPONSE, Getter, METHOD_ALLOCATE,
    METHOD_CHANNEL_BIND, METHOD_CREATE_PERMISSION, METHOD_DATA, METHOD_REFRESH, METHOD_SEND,
    Message as StunMessage, MessageType,
};
use rtc::stun::textattrs::{Nonce, Realm};
use rtc::stun::xoraddr::XorMappedAddress;
use rtc::turn::proto::channum::ChannelNumber;
use rtc::turn::proto::data::Data;
use rtc::turn::proto::lifetime::Lifetime;
use rtc::turn::proto::peeraddr::PeerAddress;
use rtc::turn::proto::relayaddr::RelayedAddress;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCIceConnectionState, RTCIceServer, RTCIceTransportPolicy,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, SettingEngineBuilder,
};
use webrtc::runtime::{AsyncUdpSocket, MockRuntime, MockUDPNetwork, Runtime};

/// One client's allocation on the mock server: its relayed socket and channel bindings.
struct Allocation {
    relay: Arc<dyn AsyncUdpSocket>,
    channels: HashMap<u16, SocketAddr>,
}

/// A TURN server that grants every request and relays between allocations: Send
/// indications and ChannelData from a client leave its relayed address; whatever
/// arrives there goes back to the client as a Data indication.
struct MockTurn {
    socket: Arc<dyn AsyncUdpSocket>,
    network: Arc<MockUDPNetwork>,
    runtime: Arc<MockRuntime>,
    allocations: Mutex<HashMap<SocketAddr, Allocation>>,
    next_port: Mutex<u16>,
}

impl MockTurn {
    async fn serve(self: Arc<Self>) {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, client)) = self.socket.recv_from(&mut buf).await {
            let packet = buf[..n].to_vec();
            if n >= 4 && (0x40..0x80).contains(&packet[0]) {
                self.channel_data(client, &packet).await;
            } else {
                self.stun(client, packet).await;
            }
        }
    }

    async fn channel_data(&self, client: SocketAddr, packet: &[u8]) {
        let number = u16::from_be_bytes([packet[0], packet[1]]);
        let len = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
        let target = {
            let allocations = self.allocations.lock().unwrap();
            allocations.get(&client).and_then(|a| {
                a.channels
                    .get(&number)
                    .map(|peer| (Arc::clone(&a.relay), *peer))
            })
        };
        if let Some((relay, peer)) = target
            && packet.len() >= 4 + len
        {
            let _ = relay.send_to(&packet[4..4 + len], peer).await;
        }
    }

    async fn stun(self: &Arc<Self>, client: SocketAddr, raw: Vec<u8>) {
        let mut msg = StunMessage::new();
        msg.raw = raw;
        if msg.decode().is_err() {
            return;
        }
        let mut response = StunMessage::new();
        let ok = |method| MessageType::new(method, CLASS_SUCCESS_RESPONSE);
        let built = match msg.typ.method {
            METHOD_ALLOCATE if msg.get(ATTR_NONCE).is_err() => response.build(&[
                Box::new(msg.transaction_id),
                Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_ERROR_RESPONSE)),
                Box::new(CODE_UNAUTHORIZED),
                Box::new(Realm::new(ATTR_REALM, "webrtc.rs".to_owned())),
                Box::new(Nonce::new(ATTR_NONCE, "nonce".to_owned())),
            ]),
            METHOD_ALLOCATE => {
                let relayed = self.allocate(client);
                response.build(&[
                    Box::new(msg.transaction_id),
                    Box::new(ok(METHOD_ALLOCATE)),
                    Box::new(RelayedAddress {
                        ip: relayed.ip(),
                        port: relayed.port(),
                    }),
                    Box::new(XorMappedAddress {
                        ip: client.ip(),
                        port: client.port(),
                    }),
                    Box::new(Lifetime(Duration::from_secs(600))),
                ])
            }
            METHOD_REFRESH => response.build(&[
                Box::new(msg.transaction_id),
                Box::new(ok(METHOD_REFRESH)),
                Box::new(Lifetime(Duration::from_secs(600))),
            ]),
            METHOD_CREATE_PERMISSION => response.build(&[
                Box::new(msg.transaction_id),
                Box::new(ok(METHOD_CREATE_PERMISSION)),
            ]),
            METHOD_CHANNEL_BIND => {
                let mut number = ChannelNumber::default();
                let mut peer = PeerAddress::default();
                if number.get_from(&msg).is_err() || peer.get_from(&msg).is_err() {
                    return;
                }
                if let Some(a) = self.allocations.lock().unwrap().get_mut(&client) {
                    a.channels
                        .insert(number.0, SocketAddr::new(peer.ip, peer.port));
                }
                response.build(&[
                    Box::new(msg.transaction_id),
                    Box::new(ok(METHOD_CHANNEL_BIND)),
                ])
            }
            METHOD_SEND => {
                let mut peer = PeerAddress::default();
                let mut data = Data::default();
                if peer.get_from(&msg).is_err() || data.get_from(&msg).is_err() {
                    return;
                }
                let relay = self
                    .allocations
                    .lock()
                    .unwrap()
                    .get(&client)
                    .map(|a| Arc::clone(&a.relay));
                if let Some(relay) = relay {
                    let _ = relay
                        .send_to(&data.0, SocketAddr::new(peer.ip, peer.port))
                        .await;
                }
                return;
            }
            _ => return,
        };
        if built.is_ok() {
            let _ = self.socket.send_to(&response.raw, client).await;
        }
    }

    /// A relayed address for `client` (the same one again for a repeated Allocate),
    /// whose arrivals are forwarded to it.
    fn allocate(self: &Arc<Self>, client: SocketAddr) -> SocketAddr {
        if let Some(a) = self.allocations.lock().unwrap().get(&client) {
            return a.relay.local_addr().unwrap();
        }
        let port = {
            let mut next = self.next_port.lock().unwrap();
            *next += 1;
            *next
        };
        let relayed = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let relay: Arc<dyn AsyncUdpSocket> = self.network.bind(relayed).unwrap();
        self.allocations.lock().unwrap().insert(
            client,
            Allocation {
                relay: Arc::clone(&relay),
                channels: HashMap::new(),
            },
        );
        let server = Arc::clone(self);
        let _task = self.runtime.spawn(Box::pin(async move {
            let mut buf = vec![0u8; 2048];
            while let Ok((n, from)) = relay.recv_from(&mut buf).await {
                let mut indication = StunMessage::new();
                let built = indication.build(&[
                    Box::new(rtc::stun::message::TransactionId::new()),
                    Box::new(MessageType::new(METHOD_DATA, CLASS_INDICATION)),
                    Box::new(PeerAddress {
                        ip: from.ip(),
                        port: from.port(),
                    }),
                    Box::new(Data(buf[..n].to_vec())),
                ]);
                if built.is_ok() {
                    let _ = server.socket.send_to(&indication.raw, client).await;
                }
            }
        }));
        relayed
    }
}

#[derive(Default)]
struct Recorder {
    ice: Mutex<Vec<RTCIceConnectionState>>,
    conn: Mutex<Vec<RTCPeerConnectionState>>,
    candidates: Mutex<Vec<RTCIceCandidateInit>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Recorder {
    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        self.ice.lock().unwrap().push(state);
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.conn.lock().unwrap().push(state);
    }

    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            self.candidates.lock().unwrap().push(init);
        }
    }
}

struct Peer {
    pc: Box<dyn PeerConnection>,
    rt: Arc<MockRuntime>,
    rec: Arc<Recorder>,
}

impl Peer {
    fn ice_connected(&self) -> bool {
        self.rec
            .ice
            .lock()
            .unwrap()
            .contains(&RTCIceConnectionState::Connected)
    }

    fn connected(&self) -> bool {
        self.rec
            .conn
            .lock()
            .unwrap()
            .contains(&RTCPeerConnectionState::Connected)
    }
}

/// A relay-only peer on `network`, its clock an hour ahead of the wall clock (so a
/// wall-clock read anywhere would show).
async fn peer(network: &Arc<MockUDPNetwork>, turn: Option<SocketAddr>) -> Peer {
    let rt = Arc::new(MockRuntime::with_network(Arc::clone(network)));
    rt.clock().advance(Duration::from_secs(3600));
    let rec = Arc::new(Recorder::default());
    let config = match turn {
        Some(turn) => RTCConfigurationBuilder::new()
            .with_ice_servers(vec![RTCIceServer {
                urls: vec![format!("turn:{turn}?transport=udp")],
                username: "user".to_owned(),
                credential: "pass".to_owned(),
            }])
            .with_ice_transport_policy(RTCIceTransportPolicy::Relay)
            .build(),
        None => RTCConfigurationBuilder::new().build(),
    };
    let pc = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_setting_engine(
            SettingEngineBuilder::new()
                .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
                .build(),
        )
        .with_runtime(Arc::clone(&rt) as Arc<dyn Runtime>)
        .with_handler(Arc::clone(&rec) as Arc<dyn PeerConnectionEventHandler>)
        .with_udp_addrs(vec!["127.0.0.1:0"])
        .build()
        .await
        .expect("a peer connection builds on the mock runtime");
    Peer {
        pc: Box::new(pc),
        rt,
        rec,
    }
}

/// Lets the driver threads run (each task of a `MockRuntime` has its own thread)
/// before the clocks move on.
fn settle() {
    std::thread::yield_now();
    std::thread::sleep(Duration::from_millis(5));
}

async fn trickle(from: &Peer, to: &Peer) {
    let candidates = std::mem::take(&mut *from.rec.candidates.lock().unwrap());
    for c in candidates {
        to.pc.add_ice_candidate(c).await.ok();
    }
}

/// DTLS's first retransmission: a handshake that took longer waited for a timer.
const BOUND: Duration = Duration::from_secs(1);

/// The virtual time from ICE connected (on both sides) to both peer connections
/// connected (DTLS done), through the mock TURN server (`relay`) or directly.
fn handshake_time(relay: bool) -> Duration {
    let network = Arc::new(MockUDPNetwork::new());
    let server_rt = Arc::new(MockRuntime::with_network(Arc::clone(&network)));
    let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let socket = server_rt.wrap_udp_socket(std_socket).unwrap();
    let turn_addr = socket.local_addr().unwrap();
    let server = Arc::new(MockTurn {
        socket,
        network: Arc::clone(&network),
        runtime: Arc::clone(&server_rt),
        allocations: Mutex::new(HashMap::new()),
        next_port: Mutex::new(50000),
    });
    let _serving = server_rt.spawn(Box::pin(Arc::clone(&server).serve()));

    let mut took = None;
    let driver = MockRuntime::new();
    driver.block_on(Box::pin(async {
        let turn = relay.then_some(turn_addr);
        let offerer = peer(&network, turn).await;
        let answerer = peer(&network, turn).await;
        offerer.pc.create_data_channel("probe", None).await.unwrap();
        let offer = offerer.pc.create_offer(None).await.unwrap();
        offerer
            .pc
            .set_local_description(offer.clone())
            .await
            .unwrap();
        answerer.pc.set_remote_description(offer).await.unwrap();
        let answer = answerer.pc.create_answer(None).await.unwrap();
        answerer
            .pc
            .set_local_description(answer.clone())
            .await
            .unwrap();
        offerer.pc.set_remote_description(answer).await.unwrap();

        let step = Duration::from_millis(10);
        let advance = || {
            offerer.rt.clock().advance(step);
            answerer.rt.clock().advance(step);
            settle();
        };
        for _ in 0..400 {
            trickle(&offerer, &answerer).await;
            trickle(&answerer, &offerer).await;
            if offerer.ice_connected() && answerer.ice_connected() {
                break;
            }
            advance();
        }
        assert!(
            offerer.ice_connected() && answerer.ice_connected(),
            "ICE did not connect (relay: {relay}): {:?} / {:?}",
            offerer.rec.ice.lock().unwrap(),
            answerer.rec.ice.lock().unwrap()
        );
        let start = offerer.rt.clock().elapsed();
        for _ in 0..1000 {
            if offerer.connected() && answerer.connected() {
                took = Some(offerer.rt.clock().elapsed() - start);
                break;
            }
            advance();
        }
    }));
    took.unwrap_or_else(|| panic!("DTLS never completed (relay: {relay})"))
}

/// The control: between host candidates the handshakes take well under the bound, so
/// the test below can fail only because of the relay.
#[test]
fn a_direct_connection_completes_its_handshakes_before_any_retransmission() {
    let took = handshake_time(false);
    assert!(took < BOUND, "direct: {took:?}");
}

#[test]
fn a_relayed_connection_completes_its_handshakes_before_any_retransmission() {
    let took = handshake_time(true);
    assert!(
        took < BOUND,
        "through the relay the handshakes took {took:?} of virtual time: relayed packets \
         waited for a timer"
    );
}
