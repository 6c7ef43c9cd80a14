//! Native-messaging mode: the host as the extension's helper, speaking framed JSON on
//! stdin and stdout (docs/native-messaging.md). stdout carries frames only; logs go
//! to `host.log` in the state directory.

mod frame;
pub mod messages;
pub mod outgoing;
mod session;

pub use frame::{FrameError, MAX_INCOMING, MAX_OUTGOING, read_frame, write_frame};
pub use messages::PROTOCOL;

use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::mpsc;

use outgoing::Outgoing;

use crate::config::StateDir;

/// Whether the arguments are those a browser starts a native-messaging host with:
/// Chromium passes the caller's origin (`chrome-extension://<id>/`), Firefox the
/// path of the host manifest and the add-on's id.
pub fn is_browser_launch(args: &[String]) -> bool {
    match args.get(1) {
        Some(a) if a.starts_with("chrome-extension://") => true,
        Some(a) => {
            a.ends_with(".json")
                && args.get(2).is_some_and(|id| !id.starts_with('-'))
                && std::path::Path::new(a).is_absolute()
        }
        None => false,
    }
}

/// Serves the browser until it closes stdin.
pub fn run(args: &[String]) -> ExitCode {
    let caller = args.get(1).cloned().unwrap_or_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("swarmload-host: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(caller))
}

async fn serve(caller: String) -> ExitCode {
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Outgoing>();
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(msg) = out_rx.recv().await {
            let body = serde_json::to_vec(&msg).unwrap_or_default();
            match write_frame(&mut stdout, &body).await {
                Ok(()) => {}
                Err(FrameError::OutgoingTooLarge(n)) => {
                    tracing::error!(bytes = n, "reply too large for native messaging");
                    let err = Outgoing::error(
                        msg.id.clone(),
                        "reply_too_large",
                        "the reply would exceed the browser's 1 MiB limit",
                    );
                    let body = serde_json::to_vec(&err).unwrap_or_default();
                    if write_frame(&mut stdout, &body).await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });

    let state = match StateDir::open(None) {
        Ok(s) => s,
        Err(e) => {
            let _ = out_tx.send(Outgoing::error(None, "no_state_dir", &e.to_string()));
            drop(out_tx);
            let _ = writer.await;
            return ExitCode::FAILURE;
        }
    };
    crate::logging::init(&state.log_path());
    tracing::info!(caller, "native messaging session");
    let session = match session::Session::new(state, out_tx.clone()).await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            let _ = out_tx.send(Outgoing::error(None, "cannot_start", &e));
            drop(out_tx);
            let _ = writer.await;
            return ExitCode::FAILURE;
        }
    };

    let mut stdin = tokio::io::stdin();
    let code = loop {
        match read_frame(&mut stdin).await {
            Ok(body) => match messages::parse(&body) {
                Ok((id, request)) => {
                    tokio::spawn(session.clone().handle(id, request));
                }
                Err(bad) => {
                    tracing::warn!(code = bad.code, "bad message: {}", bad.message);
                    let _ = out_tx.send(bad.reply());
                }
            },
            Err(FrameError::Closed) => break ExitCode::SUCCESS,
            Err(e @ FrameError::TooLarge(_)) => {
                // The stream cannot be resynchronised past a frame we will not read.
                tracing::error!("{e}");
                let _ = out_tx.send(Outgoing::error(None, "frame_too_large", &e.to_string()));
                break ExitCode::FAILURE;
            }
            Err(e) => {
                tracing::error!("{e}");
                break ExitCode::FAILURE;
            }
        }
    };
    session.shutdown().await;
    drop(session);
    drop(out_tx);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), writer).await;
    code
}
