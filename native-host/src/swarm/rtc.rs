//! WebRTC data channels (webrtc-rs): one reliable, ordered channel per peer, carrying
//! the core's wire messages. Signaling is complete, non-trickle SDP (what WebTorrent
//! trackers carry): an offer or answer is handed out only once ICE gathering is done.
//! Sends wait for room in the channel's buffer, which is the flow control.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde_json::Value;
use tokio::sync::{Notify, mpsc};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceGatheringState, RTCIceServer, RTCSessionDescription, SettingEngineBuilder,
};

/// The data channel's label: the wire protocol and its version.
pub const LABEL: &str = "swarmload/1";
/// Threads of a dedicated pool for WebRTC connection drivers; 0 runs them on the
/// host's own runtime. Measured on one loopback connection between two hosts (2
/// cores): 139-149 MB/s on the host's runtime, 117-123 MB/s with one dedicated
/// thread, whose hand-offs with the engine's thread cost more than they spread.
pub const REACTOR_THREADS: usize = 0;
/// How long ICE gathering may take before the description is used as it is.
const GATHER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a channel may take to open once both descriptions are set.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest a TURN allocation goes without a Refresh. By default the TURN client
/// refreshes at half the allocation's lifetime (5 minutes), and a NAT forgets an idle
/// UDP mapping long before that (Linux after 30 s): an offer's allocation, made
/// when the offer was, then reaches the server from a new port by the time an
/// answer comes, where no allocation exists, and every permission it asks for is
/// refused. 15 s is ICE's keepalive interval (RFC 8445 §11).
const TURN_KEEPALIVE: Duration = Duration::from_secs(15);
/// The wildcard addresses to gather on: each family this machine can route (a
/// wildcard becomes one socket per usable interface address of its family), so a
/// peer reachable over IPv6 only is reached, and a machine without IPv6 offers no
/// useless `::` candidate; IPv4 when neither can be told.
fn wildcards() -> Vec<String> {
    let mut out = Vec::new();
    if routable("0.0.0.0:0", "192.0.2.1:9") {
        out.push("0.0.0.0:0".to_string());
    }
    if routable("[::]:0", "[2001:db8::1]:9") {
        out.push("[::]:0".to_string());
    }
    if out.is_empty() {
        out.push("0.0.0.0:0".to_string());
    }
    out
}

/// Whether a socket bound to `wildcard` has a route, and a source address that is
/// neither loopback nor link-local, towards the documentation address `probe`.
/// Connecting a UDP socket only looks the route up: nothing is sent.
fn routable(wildcard: &str, probe: &str) -> bool {
    let Ok(socket) = std::net::UdpSocket::bind(wildcard) else {
        return false;
    };
    if socket.connect(probe).is_err() {
        return false;
    }
    socket.local_addr().is_ok_and(|a| {
        let ip = a.ip();
        let link_local = match ip {
            std::net::IpAddr::V4(v4) => v4.is_link_local(),
            std::net::IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        };
        !ip.is_loopback() && !ip.is_unspecified() && !link_local
    })
}

/// How long an mDNS query for a peer's `.local` candidate is retried (once a second)
/// before it is given up: by default it would be retried for the connection's life.
const MDNS_QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// `.local` candidates taken from one remote description (see `limit_mdns_candidates`).
const MAX_MDNS_CANDIDATES: usize = 4;
/// Messages received and not yet taken, per channel.
const INCOMING: usize = 1024;
/// Flow control, as browsers do it with `bufferedAmountLowThreshold`: a sender stops
/// once this many bytes are unacknowledged, and goes on when they drained to the low
/// mark. Enough in flight to fill a fast link, never an unbounded queue for a slow one.
/// (At 1 MiB one loopback connection was capped near 35-70 MB/s: the mark, not the
/// link, bounded the bytes in flight.)
pub const HIGH_WATERMARK: usize = 4 * 1024 * 1024;
pub const LOW_WATERMARK: usize = 2 * 1024 * 1024;
/// The hard bound the WebRTC stack itself enforces should a sender skip the marks.
const SEND_BUFFER_LIMIT: usize = 16 * 1024 * 1024;
/// Re-check the buffer this often: the low-mark event follows SCTP's queue, which
/// empties before the peer has acknowledged everything, so the event can pass while
/// the unacknowledged bytes are still above the mark.
const DRAIN_BACKSTOP: Duration = Duration::from_millis(2);

#[derive(Debug, thiserror::Error)]
pub enum RtcError {
    #[error("webrtc: {0}")]
    WebRtc(String),
    #[error("malformed session description: {0}")]
    BadDescription(String),
    #[error("the data channel did not open in time")]
    NotOpened,
    #[error("the data channel is closed")]
    Closed,
}

fn rtc_err(e: impl std::fmt::Display) -> RtcError {
    RtcError::WebRtc(e.to_string())
}

/// Where ICE gathers candidates and which STUN/TURN servers it asks.
#[derive(Debug, Clone)]
pub struct RtcConfig {
    pub ice_servers: Vec<swarmload_core::policy::IceServer>,
    /// Local UDP addresses to gather on (tests confine ICE to 127.0.0.1).
    pub udp_addrs: Vec<String>,
    /// Threads of the process-wide pool that runs connection drivers; 0 runs them on
    /// the ambient tokio runtime. The first connection of a process fixes it.
    pub reactor_threads: usize,
}

impl RtcConfig {
    pub fn from_policy(p: &swarmload_core::policy::Policy) -> RtcConfig {
        RtcConfig {
            ice_servers: p.ice_servers.clone(),
            udp_addrs: wildcards(),
            reactor_threads: REACTOR_THREADS,
        }
    }

    /// Gathers candidates on `ip` only.
    pub fn confined_to(mut self, ip: std::net::IpAddr) -> RtcConfig {
        self.udp_addrs = vec![std::net::SocketAddr::new(ip, 0).to_string()];
        // From a loopback address no STUN or TURN server can be reached: asking
        // would only cost a lookup that leaves the machine.
        if ip.is_loopback() {
            self.ice_servers.clear();
        }
        self
    }
}

struct Handler {
    gathered: mpsc::Sender<()>,
    remote_channel: mpsc::Sender<Arc<dyn DataChannel>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.try_send(());
        }
    }

    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        let _ = self.remote_channel.try_send(dc);
    }
}

struct Side {
    pc: Arc<dyn PeerConnection>,
    gathered: mpsc::Receiver<()>,
    remote_channel: mpsc::Receiver<Arc<dyn DataChannel>>,
}

/// How long a STUN/TURN server's name may take to resolve before the server is left
/// out. ICE gathering waits for every server, and an offer or answer is only handed
/// out once gathering is done: a resolver that takes seconds to fail (no DNS on the
/// network) would delay every connection by that much.
const ICE_SERVER_LOOKUP: Duration = Duration::from_millis(500);
/// How long a name lookup's outcome stands: a server whose name did not resolve
/// stays left out, one that did is not looked up again for each connection.
const ICE_SERVER_RETRY: Duration = Duration::from_secs(600);

/// ICE server names looked up: when, and whether they resolved.
type Lookups = std::collections::HashMap<String, (std::time::Instant, bool)>;

fn lookups() -> &'static std::sync::Mutex<Lookups> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<Lookups>> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The `host:port` an ICE server URL names (`stun:host:port`, `turn:host?transport=…`),
/// unless the host is an IP address (nothing to resolve).
fn ice_server_name(url: &str) -> Option<String> {
    let rest = url.split_once(':')?.1;
    let rest = rest.split('?').next().unwrap_or(rest);
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h, p),
        _ => (rest, "3478"),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    Some(format!("{host}:{port}"))
}

/// The configured ICE servers, less those whose names do not resolve promptly (each
/// name is looked up at most once per [`ICE_SERVER_RETRY`]): unreachable defaults cost
/// a connection half a second once, not seconds every time.
async fn usable_ice_servers(
    servers: &[swarmload_core::policy::IceServer],
) -> Vec<swarmload_core::policy::IceServer> {
    let mut usable = Vec::new();
    for server in servers {
        let mut urls = Vec::new();
        for url in &server.urls {
            let Some(name) = ice_server_name(url) else {
                urls.push(url.clone());
                continue;
            };
            let known = lookups()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&name)
                .copied()
                .filter(|(at, _)| at.elapsed() < ICE_SERVER_RETRY);
            let resolved = match known {
                Some((_, resolved)) => resolved,
                None => {
                    let resolved = tokio::time::timeout(
                        ICE_SERVER_LOOKUP,
                        tokio::net::lookup_host(name.clone()),
                    )
                    .await
                    .is_ok_and(|r| r.is_ok_and(|mut addrs| addrs.next().is_some()));
                    if !resolved {
                        tracing::info!(server = %url, "ICE server does not resolve; left out for now");
                    }
                    lookups()
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(name, (std::time::Instant::now(), resolved));
                    resolved
                }
            };
            if resolved {
                urls.push(url.clone());
            }
        }
        if !urls.is_empty() {
            usable.push(swarmload_core::policy::IceServer {
                urls,
                ..server.clone()
            });
        }
    }
    usable
}

async fn new_connection(cfg: &RtcConfig) -> Result<Side, RtcError> {
    let (gtx, grx) = mpsc::channel(1);
    let (ctx, crx) = mpsc::channel(4);
    let ice: Vec<RTCIceServer> = usable_ice_servers(&cfg.ice_servers)
        .await
        .iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone().unwrap_or_default(),
            credential: s.credential.clone().unwrap_or_default(),
        })
        .collect();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().with_ice_servers(ice).build())
        .with_setting_engine(
            SettingEngineBuilder::new()
                .with_turn_allocation_refresh_interval_cap(TURN_KEEPALIVE)
                // Browsers hide their addresses behind `.local` names: resolve them
                // (query only; our own candidates keep their addresses).
                .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::QueryOnly)
                .with_multicast_dns_timeout(Some(MDNS_QUERY_TIMEOUT))
                .build(),
        )
        .with_handler(Arc::new(Handler {
            gathered: gtx,
            remote_channel: ctx,
        }))
        .with_udp_addrs(cfg.udp_addrs.clone())
        .with_data_channel_send_buffer_limit(SEND_BUFFER_LIMIT)
        .with_dedicated_reactor_pool_size(cfg.reactor_threads)
        .with_runtime(super::rtc_runtime::BufferedRuntime::shared())
        .build()
        .await
        .map_err(rtc_err)?;
    Ok(Side {
        pc: Arc::new(pc),
        gathered: grx,
        remote_channel: crx,
    })
}

/// The local description once gathering is complete (or has taken long enough:
/// unreachable STUN servers must not hold a connection up).
async fn complete_description(side: &mut Side) -> Result<Value, RtcError> {
    let _ = tokio::time::timeout(GATHER_TIMEOUT, side.gathered.recv()).await;
    let desc = side
        .pc
        .local_description()
        .await
        .ok_or_else(|| RtcError::WebRtc("no local description".into()))?;
    serde_json::to_value(&desc).map_err(|e| RtcError::BadDescription(e.to_string()))
}

fn description(v: Value) -> Result<RTCSessionDescription, RtcError> {
    let mut d: RTCSessionDescription =
        serde_json::from_value(v).map_err(|e| RtcError::BadDescription(e.to_string()))?;
    d.sdp = limit_mdns_candidates(&d.sdp, MAX_MDNS_CANDIDATES);
    let candidates: Vec<&str> = d
        .sdp
        .lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    tracing::debug!(
        candidates = candidates.len(),
        mdns = candidates.iter().filter(|l| l.contains(".local ")).count(),
        "remote description"
    );
    Ok(d)
}

/// A remote description with at most `max` `.local` (mDNS) candidates: each is
/// resolved by multicast queries on the LAN, and a description is written by whoever
/// sent it. Browsers offer one such name per interface.
fn limit_mdns_candidates(sdp: &str, max: usize) -> String {
    let mut seen = 0;
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        let is_mdns = line.starts_with("a=candidate:")
            && line
                .split_whitespace()
                .nth(4)
                .is_some_and(|address| address.ends_with(".local"));
        if is_mdns {
            seen += 1;
            if seen > max {
                continue;
            }
        }
        out.push_str(line);
    }
    out
}

/// An open data channel to one peer: what arrives, and the sending half.
pub struct Channel {
    pub incoming: mpsc::Receiver<Bytes>,
    pub sender: ChannelSender,
}

/// The sending half of a channel; clones share the channel.
#[derive(Clone)]
pub struct ChannelSender {
    dc: Arc<dyn DataChannel>,
    pc: Arc<dyn PeerConnection>,
    drained: Arc<Notify>,
}

impl Channel {
    /// Sends one message, waiting while the channel's send buffer is full.
    pub async fn send(&self, data: &[u8]) -> Result<(), RtcError> {
        self.sender.send(data).await
    }

    pub async fn close(&self) {
        self.sender.close().await
    }
}

impl ChannelSender {
    /// Sends one message. Above the high watermark it first waits until the
    /// unacknowledged bytes drained to the low one.
    pub async fn send(&self, data: &[u8]) -> Result<(), RtcError> {
        self.send_bytes(Bytes::copy_from_slice(data)).await
    }

    /// [`send`](Self::send) for a message already in a buffer of its own: a
    /// uniquely held `Bytes` (an encoded wire message) goes to the stack uncopied.
    pub async fn send_bytes(&self, data: Bytes) -> Result<(), RtcError> {
        let queued = self
            .dc
            .outstanding_bytes()
            .await
            .map_err(|_| RtcError::Closed)?;
        if queued >= HIGH_WATERMARK {
            loop {
                let drained = self.drained.notified();
                let queued = self
                    .dc
                    .outstanding_bytes()
                    .await
                    .map_err(|_| RtcError::Closed)?;
                if queued <= LOW_WATERMARK {
                    break;
                }
                let _ = tokio::time::timeout(DRAIN_BACKSTOP, drained).await;
            }
        }
        self.dc
            .send(BytesMut::from(data))
            .await
            .map_err(|_| RtcError::Closed)
    }

    pub async fn close(&self) {
        let _ = self.dc.close().await;
        let _ = self.pc.close().await;
    }
}

/// Pumps a data channel's events: resolves `opened` on open, forwards messages,
/// wakes senders when the buffer drained to the low watermark.
async fn open_channel(
    dc: Arc<dyn DataChannel>,
    pc: Arc<dyn PeerConnection>,
) -> Result<Channel, RtcError> {
    let (otx, mut orx) = mpsc::channel::<()>(1);
    let (itx, irx) = mpsc::channel::<Bytes>(INCOMING);
    let drained = Arc::new(Notify::new());
    let _ = dc
        .set_buffered_amount_low_threshold(LOW_WATERMARK as u32)
        .await;
    let pump = dc.clone();
    let wake = drained.clone();
    tokio::spawn(async move {
        while let Some(ev) = pump.poll().await {
            match ev {
                DataChannelEvent::OnOpen => {
                    let _ = otx.try_send(());
                }
                DataChannelEvent::OnMessage(m) => {
                    // Handed over as it arrived: no copy.
                    let taken = itx.send(m.data.freeze()).await;
                    if taken.is_err() {
                        break;
                    }
                }
                DataChannelEvent::OnBufferedAmountLow => wake.notify_waiters(),
                DataChannelEvent::OnClose => break,
                _ => {}
            }
        }
        // Whoever waits for room learns the channel is gone.
        wake.notify_waiters();
    });
    // Already open (the answerer's channel may open before it is handed over).
    let open = matches!(
        dc.ready_state().await,
        Ok(webrtc::data_channel::RTCDataChannelState::Open)
    );
    if !open {
        tokio::time::timeout(OPEN_TIMEOUT, orx.recv())
            .await
            .map_err(|_| RtcError::NotOpened)?
            .ok_or(RtcError::Closed)?;
    }
    Ok(Channel {
        incoming: irx,
        sender: ChannelSender { dc, pc, drained },
    })
}

/// Our offer, waiting for a peer's answer.
pub struct PendingOffer {
    side: Side,
    dc: Arc<dyn DataChannel>,
}

/// Makes an offer (with its data channel): the SDP object to hand to the tracker.
pub async fn offer(cfg: &RtcConfig) -> Result<(PendingOffer, Value), RtcError> {
    let mut side = new_connection(cfg).await?;
    let dc = side
        .pc
        .create_data_channel(LABEL, None)
        .await
        .map_err(rtc_err)?;
    let offer = side.pc.create_offer(None).await.map_err(rtc_err)?;
    side.pc
        .set_local_description(offer)
        .await
        .map_err(rtc_err)?;
    let sdp = complete_description(&mut side).await?;
    Ok((PendingOffer { side, dc }, sdp))
}

impl PendingOffer {
    /// The peer answered: connect and wait for the channel to open.
    pub async fn connect(self, answer: Value) -> Result<Channel, RtcError> {
        self.side
            .pc
            .set_remote_description(description(answer)?)
            .await
            .map_err(rtc_err)?;
        open_channel(self.dc, self.side.pc).await
    }

    pub async fn discard(self) {
        let _ = self.side.pc.close().await;
    }
}

/// Our answer to a peer's offer, waiting for its channel.
pub struct PendingAnswer {
    side: Side,
}

/// Answers a peer's offer: the SDP object to send back through the tracker.
pub async fn answer(cfg: &RtcConfig, offer: Value) -> Result<(PendingAnswer, Value), RtcError> {
    let mut side = new_connection(cfg).await?;
    side.pc
        .set_remote_description(description(offer)?)
        .await
        .map_err(rtc_err)?;
    let answer = side.pc.create_answer(None).await.map_err(rtc_err)?;
    side.pc
        .set_local_description(answer)
        .await
        .map_err(rtc_err)?;
    let sdp = complete_description(&mut side).await?;
    Ok((PendingAnswer { side }, sdp))
}

impl PendingAnswer {
    /// Waits for the offerer's data channel to arrive and open.
    pub async fn connect(mut self) -> Result<Channel, RtcError> {
        let dc = tokio::time::timeout(OPEN_TIMEOUT, self.side.remote_channel.recv())
            .await
            .map_err(|_| RtcError::NotOpened)?
            .ok_or(RtcError::Closed)?;
        open_channel(dc, self.side.pc).await
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_family_is_gathered_only_with_a_usable_source_address() {
        // Towards loopback the source is loopback: no peer could use it.
        assert!(!routable("0.0.0.0:0", "127.0.0.1:9"));
        assert!(!routable("[::]:0", "[::1]:9"));
        // Whatever this machine routes, something is always gathered on.
        assert!(!wildcards().is_empty());
    }

    #[test]
    fn a_description_keeps_at_most_the_bound_of_mdns_candidates_and_every_other_line() {
        let mut sdp =
            String::from("v=0\r\na=candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host\r\n");
        for i in 0..10 {
            sdp.push_str(&format!(
                "a=candidate:{i} 1 udp 2130706431 {i}-abc.local 5000 typ host\r\n"
            ));
        }
        sdp.push_str(
            "a=candidate:9 1 udp 1677729535 203.0.113.1 6000 typ srflx raddr 0.0.0.0 rport 0\r\n",
        );
        let out = limit_mdns_candidates(&sdp, 4);
        assert_eq!(out.matches(".local").count(), 4);
        assert!(out.contains("10.0.0.1 5000 typ host\r\n"));
        assert!(out.contains("typ srflx"));
        assert!(out.starts_with("v=0\r\n"));
        // The control: under the bound nothing is dropped.
        assert_eq!(limit_mdns_candidates(&sdp, 100), sdp);
    }

    use super::*;

    #[test]
    fn ice_server_names_are_what_a_resolver_is_asked() {
        assert_eq!(
            ice_server_name("stun:stun.l.google.com:19302").as_deref(),
            Some("stun.l.google.com:19302")
        );
        assert_eq!(
            ice_server_name("turn:turn.example.org?transport=tcp").as_deref(),
            Some("turn.example.org:3478")
        );
        assert_eq!(ice_server_name("stun:10.0.0.1:3478"), None);
        assert_eq!(ice_server_name("stun:[::1]:3478"), None);
        assert_eq!(ice_server_name("garbage"), None);
    }

    #[tokio::test]
    async fn a_server_that_does_not_resolve_is_left_out_and_an_address_is_kept() {
        let servers = vec![
            swarmload_core::policy::IceServer {
                // `.invalid` never resolves (RFC 2606).
                urls: vec!["stun:stun.swarmload.invalid:3478".into()],
                username: None,
                credential: None,
            },
            swarmload_core::policy::IceServer {
                urls: vec!["stun:127.0.0.1:3478".into()],
                username: None,
                credential: None,
            },
        ];
        let start = std::time::Instant::now();
        let usable = usable_ice_servers(&servers).await;
        assert_eq!(usable.len(), 1);
        assert_eq!(usable[0].urls, ["stun:127.0.0.1:3478"]);
        assert!(start.elapsed() < Duration::from_secs(2));
        // Remembered: the second time costs no lookup at all.
        let again = std::time::Instant::now();
        assert_eq!(usable_ice_servers(&servers).await.len(), 1);
        assert!(again.elapsed() < Duration::from_millis(100));
    }
}
