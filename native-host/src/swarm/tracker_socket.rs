//! One WebSocket to a tracker, and nothing else: the core's membership machine
//! decides when to open it, what to send and when to close it; this task reports
//! what happened on it. Texts queued before the owner lets go of the sender still
//! go out (the `stopped` announce), then the socket closes.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// Texts queued per socket before further ones are dropped.
const QUEUE: usize = 64;
/// How long the last texts and the closing handshake may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub enum SocketEvent {
    Opened,
    Text(String),
    Closed(String),
}

/// What the socket's task reports, tagged with the tracker and the socket's
/// generation so that a late report of an old socket is told apart.
#[derive(Debug)]
pub struct Report {
    pub tracker: usize,
    pub generation: u64,
    pub event: SocketEvent,
}

/// An open (or opening) socket: texts to send, and its task.
pub struct TrackerSocket {
    pub generation: u64,
    out: mpsc::Sender<String>,
    pub task: JoinHandle<()>,
}

impl TrackerSocket {
    /// Opens a socket to `url` in a task of its own.
    pub fn open(
        url: String,
        tracker: usize,
        generation: u64,
        reports: mpsc::Sender<Report>,
    ) -> TrackerSocket {
        let (out, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(url, rx, move |event| {
            let reports = reports.clone();
            async move {
                let _ = reports
                    .send(Report {
                        tracker,
                        generation,
                        event,
                    })
                    .await;
            }
        }));
        TrackerSocket {
            generation,
            out,
            task,
        }
    }

    /// Queues a text; false when the queue is full (the text is dropped).
    pub fn send(&self, text: String) -> bool {
        self.out.try_send(text).is_ok()
    }
}

async fn run<F, Fut>(url: String, mut out: mpsc::Receiver<String>, report: F)
where
    F: Fn(SocketEvent) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let ws = tokio::select! {
        r = tokio_tungstenite::connect_async(url.as_str()) => r,
        // The owner gave up on this socket (it took too long, or the swarm ends).
        () = owner_gone(&mut out) => return,
    };
    let (mut sink, mut stream) = match ws {
        Ok((ws, _)) => ws.split(),
        Err(e) => {
            report(SocketEvent::Closed(e.to_string())).await;
            return;
        }
    };
    report(SocketEvent::Opened).await;
    let why = loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(t))) => report(SocketEvent::Text(t.to_string())).await,
                Some(Ok(Message::Close(_))) | None => break "the tracker closed the connection".to_string(),
                Some(Ok(_)) => {}
                Some(Err(e)) => break e.to_string(),
            },
            text = out.recv() => match text {
                Some(t) => {
                    if let Err(e) = sink.send(Message::text(t)).await {
                        break e.to_string();
                    }
                }
                None => {
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
                    return;
                }
            },
        }
    };
    report(SocketEvent::Closed(why)).await;
}

/// Waits until the owner drops its sender (nothing is sent before the socket
/// opens, so there is nothing queued to keep).
async fn owner_gone(out: &mut mpsc::Receiver<String>) {
    while out.recv().await.is_some() {}
}
