//! Swarms, connections and the message loop. Every limit is explicit: message size,
//! offers per announce, peers per swarm, swarms per connection, queued messages per
//! connection, and how long a silent connection lives.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::forwarded;
use crate::mappings::{Mappings, PutRate};
use crate::protocol::{self, Announce, BadRequest, Event, Id20, Request};
use tokio_tungstenite::tungstenite::http;

#[derive(Debug, Clone)]
pub struct Config {
    /// Seconds between announces, told to every client.
    pub interval: u64,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    pub max_message_bytes: usize,
    pub max_offers: usize,
    pub max_peers_per_swarm: usize,
    pub max_swarms_per_connection: usize,
    /// Messages queued for one connection; a client that reads slower is dropped.
    pub max_queued: usize,
    /// Trusted groups' mapping records are kept for this many ids, the oldest
    /// forgotten first; 0 answers the mapping actions as a plain WebTorrent tracker
    /// does, with "invalid action".
    pub max_mapping_ids: usize,
    /// Mapping puts one address may make: a burst, then so many a minute.
    pub mapping_puts: PutRate,
    /// Reverse proxies whose `X-Forwarded-For` names the client (see `forwarded`).
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            interval: 120,
            idle_timeout: Duration::from_secs(300),
            max_message_bytes: 64 * 1024,
            max_offers: 10,
            max_peers_per_swarm: 10_000,
            max_swarms_per_connection: 128,
            max_queued: 256,
            max_mapping_ids: 100_000,
            mapping_puts: PutRate {
                burst: 30,
                per_minute: 30,
            },
            trusted_proxies: Vec::new(),
        }
    }
}

struct PeerEntry {
    conn: u64,
    seeder: bool,
}

#[derive(Default)]
struct Swarm {
    peers: HashMap<Id20, PeerEntry>,
    downloaded: u64,
}

impl Swarm {
    fn counts(&self) -> (usize, usize) {
        let complete = self.peers.values().filter(|p| p.seeder).count();
        (complete, self.peers.len() - complete)
    }
}

struct Conn {
    tx: mpsc::Sender<String>,
    /// Where it connects from: the mapping limits count per address.
    addr: IpAddr,
    /// (info hash, peer id) pairs this connection announced.
    joined: HashSet<(Id20, Id20)>,
}

struct State {
    swarms: HashMap<Id20, Swarm>,
    conns: HashMap<u64, Conn>,
    next_conn: u64,
    rng: u64,
    /// Trusted groups' records, opaque here (see `mappings`).
    mappings: Mappings,
}

impl State {
    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn send(&self, conn: u64, text: String) {
        if let Some(c) = self.conns.get(&conn) {
            // A full queue means a client that does not read: it loses messages
            // rather than the tracker growing without bound.
            let _ = c.tx.try_send(text);
        }
    }

    fn leave(&mut self, conn: u64, info_hash: Id20, peer_id: Id20) {
        if let Some(s) = self.swarms.get_mut(&info_hash) {
            if s.peers.get(&peer_id).is_some_and(|p| p.conn == conn) {
                s.peers.remove(&peer_id);
            }
            if s.peers.is_empty() {
                self.swarms.remove(&info_hash);
            }
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.joined.remove(&(info_hash, peer_id));
        }
    }
}

#[derive(Clone)]
pub struct Tracker {
    cfg: Arc<Config>,
    state: Arc<Mutex<State>>,
}

impl Tracker {
    pub fn new(cfg: Config) -> Tracker {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        Tracker {
            state: Arc::new(Mutex::new(State {
                swarms: HashMap::new(),
                conns: HashMap::new(),
                next_conn: 0,
                rng: u64::from_le_bytes(seed),
                mappings: Mappings::new(cfg.max_mapping_ids, cfg.mapping_puts),
            })),
            cfg: Arc::new(cfg),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Peers currently in all swarms (for tests and logs).
    pub fn peer_count(&self) -> usize {
        self.state().swarms.values().map(|s| s.peers.len()).sum()
    }

    pub fn connection_count(&self) -> usize {
        self.state().conns.len()
    }

    /// Accepts connections until the listener fails.
    pub async fn serve(self, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((tcp, addr)) => {
                    let t = self.clone();
                    tokio::spawn(async move { t.connection(tcp, addr).await });
                }
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    async fn connection(self, tcp: TcpStream, addr: SocketAddr) {
        let _ = tcp.set_nodelay(true);
        let ws_cfg = WebSocketConfig::default()
            .max_message_size(Some(self.cfg.max_message_bytes))
            .max_frame_size(Some(self.cfg.max_message_bytes));
        // Behind a proxy named on the command line, the client is who it says.
        let from_proxy = self.cfg.trusted_proxies.contains(&addr.ip());
        let mut forwarded = None;
        // The callback's error type is tungstenite's, not ours to shrink.
        #[allow(clippy::result_large_err)]
        let callback = |req: &http::Request<()>, resp: http::Response<()>| {
            if from_proxy {
                forwarded = forwarded::client_of(req.headers());
            }
            Ok(resp)
        };
        let handshake =
            tokio_tungstenite::accept_hdr_async_with_config(tcp, callback, Some(ws_cfg));
        let ws = match tokio::time::timeout(Duration::from_secs(10), handshake).await {
            Ok(Ok(ws)) => ws,
            _ => return,
        };
        let client = forwarded.unwrap_or(addr.ip());
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = mpsc::channel::<String>(self.cfg.max_queued);
        let id = {
            let mut st = self.state();
            st.next_conn += 1;
            let id = st.next_conn;
            st.conns.insert(
                id,
                Conn {
                    tx,
                    addr: client,
                    joined: HashSet::new(),
                },
            );
            id
        };
        tracing::debug!(%addr, id, "connected");
        let writer = tokio::spawn(async move {
            while let Some(text) = rx.recv().await {
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        loop {
            let next = tokio::time::timeout(self.cfg.idle_timeout, stream.next()).await;
            match next {
                Ok(Some(Ok(Message::Text(text)))) => self.on_text(id, text.as_str()),
                Ok(Some(Ok(Message::Binary(_)))) => {
                    let b = BadRequest {
                        action: "announce",
                        reason: "text messages only".into(),
                    };
                    self.state().send(id, protocol::failure(&b, None));
                }
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) => break,
                Ok(Some(Ok(_))) => {} // ping, pong: answered by the library
                Ok(Some(Err(e))) => {
                    // Oversized or malformed frames end the connection.
                    tracing::debug!(id, "closing: {e}");
                    break;
                }
                Err(_) => {
                    tracing::debug!(id, "idle: closing");
                    break;
                }
            }
        }
        self.disconnect(id);
        writer.abort();
    }

    fn disconnect(&self, id: u64) {
        let mut st = self.state();
        if let Some(conn) = st.conns.remove(&id) {
            for (ih, pid) in conn.joined {
                st.leave(id, ih, pid);
            }
        }
    }

    fn on_text(&self, conn: u64, text: &str) {
        match protocol::parse(text, self.cfg.max_offers) {
            Ok(Request::Announce(a)) => self.announce(conn, a),
            Ok(Request::Scrape(hashes)) => {
                let st = self.state();
                let files: Vec<(Id20, usize, usize, u64)> = if hashes.is_empty() {
                    st.swarms
                        .iter()
                        .take(1000)
                        .map(|(ih, s)| {
                            let (c, i) = s.counts();
                            (*ih, c, i, s.downloaded)
                        })
                        .collect()
                } else {
                    hashes
                        .iter()
                        .map(|ih| match st.swarms.get(ih) {
                            Some(s) => {
                                let (c, i) = s.counts();
                                (*ih, c, i, s.downloaded)
                            }
                            None => (*ih, 0, 0, 0),
                        })
                        .collect()
                };
                st.send(conn, protocol::scrape_response(&files));
            }
            Ok(r @ (Request::MappingPut { .. } | Request::MappingGet(_)))
                if self.cfg.max_mapping_ids == 0 =>
            {
                // As bittorrent-tracker answers an action it does not know.
                let action = match r {
                    Request::MappingPut { .. } => protocol::MAPPING_PUT,
                    _ => protocol::MAPPING_GET,
                };
                let b = BadRequest {
                    action,
                    reason: "invalid action".into(),
                };
                self.state().send(conn, protocol::failure(&b, None));
            }
            Ok(Request::MappingPut { map_id, record }) => {
                let mut st = self.state();
                let Some(addr) = st.conns.get(&conn).map(|c| c.addr) else {
                    return;
                };
                let reply = match st.mappings.put(map_id, record, addr, Instant::now()) {
                    Ok(()) => protocol::mapping_stored(&map_id),
                    Err(refused) => {
                        tracing::debug!(conn, %addr, "mapping put refused: {refused}");
                        let b = BadRequest {
                            action: protocol::MAPPING_PUT,
                            reason: refused.to_string(),
                        };
                        protocol::failure(&b, None)
                    }
                };
                st.send(conn, reply);
            }
            Ok(Request::MappingGet(map_id)) => {
                let st = self.state();
                let reply = protocol::mapping_records(&map_id, &st.mappings.get(&map_id));
                st.send(conn, reply);
            }
            Err(b) => {
                tracing::debug!(conn, "bad message: {}", b.reason);
                self.state().send(conn, protocol::failure(&b, None));
            }
        }
    }

    fn announce(&self, conn: u64, a: Announce) {
        let mut st = self.state();
        let fail = |st: &State, reason: &str| {
            let b = BadRequest {
                action: "announce",
                reason: reason.into(),
            };
            st.send(conn, protocol::failure(&b, Some(a.info_hash)));
        };
        if let Some(answer) = &a.answer {
            // An answer goes to the peer whose offer it answers, nowhere else.
            let target = st
                .swarms
                .get(&a.info_hash)
                .and_then(|s| s.peers.get(&answer.to_peer_id))
                .map(|p| p.conn);
            if let Some(target) = target {
                st.send(
                    target,
                    protocol::forwarded_answer(a.info_hash, a.peer_id, answer),
                );
            }
            return;
        }
        if a.event == Event::Stopped {
            st.leave(conn, a.info_hash, a.peer_id);
            return self.respond(&st, conn, a.info_hash);
        }
        let key = (a.info_hash, a.peer_id);
        let joined = st.conns.get(&conn).map(|c| c.joined.len()).unwrap_or(0);
        let already = st.conns.get(&conn).is_some_and(|c| c.joined.contains(&key));
        if !already && joined >= self.cfg.max_swarms_per_connection {
            return fail(&st, "too many swarms on one connection");
        }
        let in_swarm = st
            .swarms
            .get(&a.info_hash)
            .is_some_and(|s| s.peers.contains_key(&a.peer_id));
        let size = st
            .swarms
            .get(&a.info_hash)
            .map(|s| s.peers.len())
            .unwrap_or(0);
        if !in_swarm && size >= self.cfg.max_peers_per_swarm {
            return fail(&st, "swarm full");
        }
        let seeder = a.left == Some(0);
        let swarm = st.swarms.entry(a.info_hash).or_default();
        if let Some(old) = swarm.peers.insert(a.peer_id, PeerEntry { conn, seeder }) {
            // The same peer id from another connection: the newest wins.
            if old.conn != conn
                && let Some(c) = st.conns.get_mut(&old.conn)
            {
                c.joined.remove(&key);
            }
        }
        if a.event == Event::Completed
            && let Some(s) = st.swarms.get_mut(&a.info_hash)
        {
            s.downloaded += 1;
        }
        if let Some(c) = st.conns.get_mut(&conn) {
            c.joined.insert(key);
        }
        // Each offer goes to a different peer of the swarm, chosen at random.
        let want = a.numwant.map(|n| n as usize).unwrap_or(a.offers.len());
        let n = a.offers.len().min(want);
        let mut others: Vec<(Id20, u64)> = st
            .swarms
            .get(&a.info_hash)
            .map(|s| {
                s.peers
                    .iter()
                    .filter(|(pid, p)| **pid != a.peer_id && p.conn != conn)
                    .map(|(pid, p)| (*pid, p.conn))
                    .collect()
            })
            .unwrap_or_default();
        for i in 0..others.len().min(n) {
            let j = i + (st.random() as usize) % (others.len() - i);
            others.swap(i, j);
        }
        for (offer, (_, target)) in a.offers.iter().take(n).zip(others.iter()) {
            st.send(
                *target,
                protocol::forwarded_offer(a.info_hash, a.peer_id, offer),
            );
        }
        self.respond(&st, conn, a.info_hash);
    }

    /// The announce response: the interval and the swarm's counts.
    fn respond(&self, st: &State, conn: u64, info_hash: Id20) {
        let (c, i) = st
            .swarms
            .get(&info_hash)
            .map(Swarm::counts)
            .unwrap_or((0, 0));
        st.send(
            conn,
            protocol::announce_response(info_hash, self.cfg.interval, c, i),
        );
    }
}
