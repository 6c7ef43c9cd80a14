//! The loopback delivery server: how a download made by the host reaches the
//! browser's own download manager (so its progress, "show in folder" and Safe
//! Browsing behave as usual).
//!
//! - It listens on 127.0.0.1 only, on an ephemeral port.
//! - `GET /d/<token>` streams one download's verified bytes in order, as they become
//!   deliverable, with `Content-Length` and `Content-Disposition`.
//! - Tokens are 256 random bits, good for one request, and expire unused.
//! - The `Host` header must name this very address: a page that rebinds a DNS name
//!   to 127.0.0.1 sends its own name and is refused.
//! - The final bytes are held back until the whole-file SHA-256 matches; if it does
//!   not (or delivered bytes must be withdrawn), the response is aborted, so the
//!   browser marks the download failed and never completes a wrong file.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::download::{Phase, Progress};

/// How long a token stays valid before its first use.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(120);
const CHUNK: u64 = 256 * 1024;

/// One download as the delivery server streams it.
pub struct Source {
    /// The file the bytes are stored in (kept open: it may be renamed meanwhile).
    pub file: File,
    pub size: u64,
    pub filename: String,
    pub progress: watch::Receiver<Progress>,
    /// Bytes handed to the browser so far: while none were, a download that starts
    /// over (`transfer::restart`) can still deliver through the same response.
    pub sent: Arc<AtomicU64>,
}

struct Pending {
    source: Source,
    expires: Instant,
}

#[derive(Clone)]
pub struct Delivery {
    addr: SocketAddr,
    tokens: Arc<Mutex<HashMap<String, Pending>>>,
}

impl Delivery {
    /// Binds 127.0.0.1 on an ephemeral port and serves on the current runtime.
    pub async fn start() -> std::io::Result<Delivery> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let d = Delivery {
            addr,
            tokens: Arc::new(Mutex::new(HashMap::new())),
        };
        let server = d.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let server = server.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let server = server.clone();
                        async move { Ok::<_, Infallible>(server.respond(req)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Ok(d)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Registers a download and returns the one-use URL that delivers it. Without
    /// the system's randomness there is no safe token, and no URL.
    pub fn offer(&self, source: Source) -> Result<String, getrandom::Error> {
        self.offer_for(source, TOKEN_LIFETIME)
    }

    fn offer_for(&self, source: Source, lifetime: Duration) -> Result<String, getrandom::Error> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw)?;
        let token = hex::encode(raw);
        let now = Instant::now();
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.retain(|_, p| p.expires > now);
        tokens.insert(
            token.clone(),
            Pending {
                source,
                expires: now + lifetime,
            },
        );
        Ok(format!("http://{}/d/{token}", self.addr))
    }

    fn host_ok(&self, req: &Request<hyper::body::Incoming>) -> bool {
        let Some(host) = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
        else {
            return false;
        };
        let port = self.addr.port();
        host == format!("127.0.0.1:{port}") || host == format!("localhost:{port}")
    }

    fn respond(&self, req: Request<hyper::body::Incoming>) -> Response<Body> {
        if !self.host_ok(&req) {
            return plain(StatusCode::FORBIDDEN, "wrong Host");
        }
        if req.method() != Method::GET {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "GET only");
        }
        let Some(token) = req.uri().path().strip_prefix("/d/") else {
            return plain(StatusCode::NOT_FOUND, "not found");
        };
        let pending = {
            let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
            tokens.remove(token)
        };
        let Some(pending) = pending else {
            return plain(StatusCode::NOT_FOUND, "unknown or used token");
        };
        if pending.expires <= Instant::now() {
            return plain(StatusCode::GONE, "token expired");
        }
        let Source {
            file,
            size,
            filename,
            progress,
            sent,
        } = pending.source;
        let mut resp = Response::new(stream_body(file, size, progress, sent));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Ok(v) = HeaderValue::from_str(&size.to_string()) {
            h.insert(header::CONTENT_LENGTH, v);
        }
        if let Ok(v) = HeaderValue::from_str(&content_disposition(&filename)) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        resp
    }
}

type Body = BoxBody<Bytes, std::io::Error>;

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|e| match e {})
            .boxed(),
    );
    *r.status_mut() = status;
    r
}

/// What RFC 8187 lets stand unencoded in `filename*` (`attr-char`).
const ATTR_CHAR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded`.
pub fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(name, ATTR_CHAR);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

struct Streaming {
    file: Arc<File>,
    size: u64,
    pos: u64,
    progress: watch::Receiver<Progress>,
    generation: u32,
    sent: Arc<AtomicU64>,
}

fn stream_body(
    file: File,
    size: u64,
    progress: watch::Receiver<Progress>,
    sent: Arc<AtomicU64>,
) -> Body {
    let generation = progress.borrow().delivery_generation;
    let state = Streaming {
        file: Arc::new(file),
        size,
        pos: 0,
        progress,
        generation,
        sent,
    };
    let s = stream::unfold(Some(state), |state| async move {
        let mut st = state?;
        loop {
            let (deliverable, phase, generation) = {
                let p = st.progress.borrow_and_update();
                (p.deliverable, p.phase, p.delivery_generation)
            };
            if generation != st.generation && st.pos == 0 && phase != Phase::Failed {
                // Nothing was sent of what is now void: follow the bytes that replace it.
                st.generation = generation;
                continue;
            }
            if generation != st.generation || phase == Phase::Failed {
                // Bytes already sent can no longer be vouched for, or the download
                // failed: break the response so the browser fails the download.
                let e = std::io::Error::other("the download failed");
                return Some((Err(e), None));
            }
            if st.pos >= st.size {
                return None;
            }
            if st.pos < deliverable {
                let n = (deliverable - st.pos).min(CHUNK);
                let (file, pos) = (st.file.clone(), st.pos);
                let read = tokio::task::spawn_blocking(move || {
                    let mut buf = vec![0u8; n as usize];
                    file.read_exact_at(&mut buf, pos).map(|()| buf)
                })
                .await;
                return match read {
                    Ok(Ok(buf)) => {
                        st.pos += n;
                        st.sent.store(st.pos, Ordering::Relaxed);
                        Some((Ok(Frame::data(Bytes::from(buf))), Some(st)))
                    }
                    _ => Some((Err(std::io::Error::other("cannot read the download")), None)),
                };
            }
            if st.progress.changed().await.is_err() {
                // The download is over: what it last published is final.
                let p = st.progress.borrow().clone();
                if p.deliverable <= st.pos || p.phase != Phase::Complete {
                    let e = std::io::Error::other("the download ended incomplete");
                    return Some((Err(e), None));
                }
            }
        }
    });
    StreamBody::new(s).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(url: &str, host: Option<&str>) -> String {
        let rest = url.strip_prefix("http://").unwrap();
        let (addr, path) = rest.split_once('/').unwrap();
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "GET /{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            host.unwrap_or(addr)
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    fn source(bytes: &[u8]) -> (Source, watch::Sender<Progress>) {
        let path = std::env::temp_dir().join(format!(
            "swl-delivery-{}-{}",
            std::process::id(),
            bytes.len()
        ));
        std::fs::write(&path, bytes).unwrap();
        let file = File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let (tx, rx) = watch::channel(Progress {
            size: bytes.len() as u64,
            deliverable: bytes.len() as u64,
            phase: Phase::Complete,
            ..Progress::default()
        });
        (
            Source {
                file,
                size: bytes.len() as u64,
                filename: "r\u{e9}sum\u{e9} \"1\".pdf".into(),
                progress: rx,
                sent: Arc::default(),
            },
            tx,
        )
    }

    #[tokio::test]
    async fn tokens_are_one_use_expire_and_need_the_right_host() {
        let d = Delivery::start().await.unwrap();
        let (s, _keep) = source(b"hello");
        let url = d.offer(s).unwrap();
        assert!(url.len() > 64, "a 256-bit token: {url}");
        // Another origin's name for 127.0.0.1 (DNS rebinding) is refused.
        assert!(
            get(&url, Some("attacker.example"))
                .await
                .starts_with("HTTP/1.1 403")
        );
        let port = d.addr().port();
        let lan = format!("192.168.1.2:{port}");
        assert!(get(&url, Some(&lan)).await.starts_with("HTTP/1.1 403"));
        let ok = get(&url, None).await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.ends_with("\r\n\r\nhello"), "{ok}");
        assert!(
            ok.contains("filename*=UTF-8''r%C3%A9sum%C3%A9%20%221%22.pdf"),
            "{ok}"
        );
        assert!(ok.contains("filename=\"r_sum_ _1_.pdf\""), "{ok}");
        assert!(
            get(&url, None).await.starts_with("HTTP/1.1 404"),
            "used once"
        );

        let (s, _keep2) = source(b"expired");
        let url = d.offer_for(s, Duration::ZERO).unwrap();
        assert!(get(&url, None).await.starts_with("HTTP/1.1 410"));
        let guess = format!("http://{}/d/{}", d.addr(), "0".repeat(64));
        assert!(get(&guess, None).await.starts_with("HTTP/1.1 404"));
    }
}
