//! One tracker connection for one swarm: announces, re-announces at the tracker's
//! interval, passes on offers and answers, reconnects with backoff, and says
//! `stopped` when it ends. An unreachable tracker only ever costs its own task: the
//! download never waits for it.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use swarmload_core::tracker_protocol::{
    self as protocol, AnnounceParams, Answer, Event, Id20, Offer, ServerMessage,
};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Interval used until the tracker names one, and the shortest one obeyed.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(120);
const MIN_INTERVAL: Duration = Duration::from_secs(5);
/// Offers asked for with each announce.
pub const OFFERS_PER_ANNOUNCE: usize = 5;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Fresh offers (complete SDP) to announce with.
    Offers(Vec<(Id20, Value)>),
    /// Our answer to another peer's offer.
    Answer {
        to_peer: Id20,
        offer_id: Id20,
        answer: Value,
    },
    /// Transfer counters for the next announces.
    Progress {
        left: u64,
        uploaded: u64,
        downloaded: u64,
    },
    Completed,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Connected,
    Disconnected(String),
    /// The tracker wants announcing: send `Command::Offers` with up to `n` offers.
    WantOffers(usize),
    Counts {
        complete: u64,
        incomplete: u64,
    },
    Offer {
        from: Id20,
        offer_id: Id20,
        offer: Value,
    },
    Answer {
        from: Id20,
        offer_id: Id20,
        answer: Value,
    },
    Failure(String),
}

pub struct ClientConfig {
    pub url: String,
    pub info_hash: Id20,
    pub peer_id: Id20,
}

/// Runs one tracker client until `stop` turns true (or every sender is gone).
/// Updates carry the tracker's URL so one consumer can serve several trackers.
pub async fn run(
    cfg: ClientConfig,
    mut commands: mpsc::Receiver<Command>,
    updates: mpsc::Sender<(String, Update)>,
    mut stop: watch::Receiver<bool>,
) {
    let url = cfg.url.clone();
    let emit = |u: Update| {
        let updates = updates.clone();
        let url = url.clone();
        async move {
            let _ = updates.send((url, u)).await;
        }
    };
    let mut params = AnnounceParams {
        info_hash: cfg.info_hash,
        peer_id: cfg.peer_id,
        event: Some(Event::Started),
        left: 0,
        uploaded: 0,
        downloaded: 0,
        offers: Vec::new(),
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        if *stop.borrow() {
            return;
        }
        let connect = tokio_tungstenite::connect_async(cfg.url.as_str());
        let ws = tokio::select! {
            r = tokio::time::timeout(CONNECT_TIMEOUT, connect) => r,
            _ = stop.changed() => return,
        };
        let ws = match ws {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => {
                emit(Update::Disconnected(e.to_string())).await;
                if !sleep_or_stop(backoff, &mut stop).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            Err(_) => {
                emit(Update::Disconnected("connection timed out".into())).await;
                if !sleep_or_stop(backoff, &mut stop).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = FIRST_BACKOFF;
        emit(Update::Connected).await;
        let (mut sink, mut stream) = ws.split();
        // A fresh connection announces at once (no offers yet), then again with
        // the offers it asks for.
        params.offers.clear();
        if sink
            .send(Message::text(protocol::announce_request(&params)))
            .await
            .is_err()
        {
            continue;
        }
        params.event = None;
        emit(Update::WantOffers(OFFERS_PER_ANNOUNCE)).await;
        let mut interval = DEFAULT_INTERVAL;
        let mut next = tokio::time::Instant::now() + interval;
        let broke = loop {
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(Ok(Message::Text(t))) => match protocol::parse_server(t.as_str()) {
                        ServerMessage::Announced { interval: i, complete, incomplete } => {
                            if let Some(i) = i {
                                interval = Duration::from_secs(i).max(MIN_INTERVAL);
                                next = tokio::time::Instant::now() + interval;
                            }
                            if let (Some(complete), Some(incomplete)) = (complete, incomplete) {
                                emit(Update::Counts { complete, incomplete }).await;
                            }
                        }
                        ServerMessage::Offer { from, offer_id, offer } => {
                            emit(Update::Offer { from, offer_id, offer }).await;
                        }
                        ServerMessage::Answer { from, offer_id, answer } => {
                            emit(Update::Answer { from, offer_id, answer }).await;
                        }
                        ServerMessage::Failure(reason) => emit(Update::Failure(reason)).await,
                        ServerMessage::Other => {}
                    },
                    Some(Ok(Message::Close(_))) | None => break "the tracker closed the connection".to_string(),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break e.to_string(),
                },
                cmd = commands.recv() => {
                    let text = match cmd {
                        Some(Command::Offers(offers)) => {
                            params.offers = offers
                                .into_iter()
                                .map(|(offer_id, offer)| Offer { offer_id, offer })
                                .collect();
                            let t = protocol::announce_request(&params);
                            params.offers.clear();
                            Some(t)
                        }
                        Some(Command::Answer { to_peer, offer_id, answer }) => Some(
                            protocol::answer_request(
                                cfg.info_hash,
                                cfg.peer_id,
                                &Answer { to_peer_id: to_peer, offer_id, answer },
                            ),
                        ),
                        Some(Command::Progress { left, uploaded, downloaded }) => {
                            params.left = left;
                            params.uploaded = uploaded;
                            params.downloaded = downloaded;
                            None
                        }
                        Some(Command::Completed) => {
                            params.left = 0;
                            params.event = Some(Event::Completed);
                            let t = protocol::announce_request(&params);
                            params.event = None;
                            Some(t)
                        }
                        None => {
                            // The owner is gone: leave the swarm.
                            say_stopped(&mut sink, &mut params).await;
                            return;
                        }
                    };
                    if let Some(t) = text
                        && sink.send(Message::text(t)).await.is_err()
                    {
                        break "cannot send to the tracker".to_string();
                    }
                }
                _ = tokio::time::sleep_until(next) => {
                    next = tokio::time::Instant::now() + interval;
                    emit(Update::WantOffers(OFFERS_PER_ANNOUNCE)).await;
                }
                _ = stop.changed() => {
                    say_stopped(&mut sink, &mut params).await;
                    return;
                }
            }
        };
        emit(Update::Disconnected(broke)).await;
        params.event = Some(Event::Started);
        if !sleep_or_stop(backoff, &mut stop).await {
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn say_stopped<S>(sink: &mut S, params: &mut AnnounceParams)
where
    S: SinkExt<Message> + Unpin,
{
    params.event = Some(Event::Stopped);
    params.offers.clear();
    let bye = protocol::announce_request(params);
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = sink.send(Message::text(bye)).await;
        let _ = sink.close().await;
    })
    .await;
}

/// Sleeps, unless told to stop first; returns whether to go on.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => !*stop.borrow(),
        _ = stop.changed() => false,
    }
}
