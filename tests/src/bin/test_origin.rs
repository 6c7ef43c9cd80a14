//! `test-origin`: the test origin as a process, for benchmarks and manual runs.
//!
//! `test-origin FILE [--throttle BYTES_PER_SEC] [--throttle-total BYTES_PER_SEC] [--metalink] [--no-ranges] [--no-digest] [--page] [--extra NAME=PATH]… [--link VALUE]… [--signed-redirect GETS] [--port N]`
//! serves FILE at `/files/<name>` on 127.0.0.1 and prints the URL on stdout. `--page`
//! also serves `/` as a download page linking to it; `/stats` answers the counters.
//! `--extra NAME=PATH` serves the file at PATH as `/files/NAME` too (a checksum list
//! beside the download, say). `--link VALUE` adds a `Link` header to every content
//! response (`<URL>; rel=duplicate; pri=1` names a mirror). `--signed-redirect GETS`
//! moves the content to `/blobs/<name>?sig=N`, a signed URL that expires after GETS
//! content GETs, and makes `/files/<name>` (what is printed, and what the page links
//! to) redirect there, as a release link to a CDN does. `GET /_hold` makes content
//! bodies wait (each at most 30 s) until `GET /_release`; `GET /_hold_ranges` only
//! ranged ones (a downloader's, not a browser's own GET).

use std::path::PathBuf;

use swarmload_tests::origin::{Content, ExtraFile, OriginConfig, TestOrigin};

fn usage() -> ! {
    eprintln!(
        "usage: test-origin FILE [--throttle BYTES_PER_SEC] [--throttle-total BYTES_PER_SEC] [--metalink] [--no-ranges] [--no-digest] [--page] [--extra NAME=PATH]... [--link VALUE]... [--signed-redirect GETS] [--port N]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut file = None;
    let mut throttle = None;
    let mut throttle_total = None;
    let mut ranges = true;
    let mut metalink = false;
    let mut digest = true;
    let mut page = false;
    let mut port = 0u16;
    let mut extra = Vec::new();
    let mut links = Vec::new();
    let mut signed_redirect = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--throttle" => throttle = args.next().and_then(|v| v.parse().ok()).or_else(|| usage()),
            "--throttle-total" => {
                throttle_total = args.next().and_then(|v| v.parse().ok()).or_else(|| usage())
            }
            "--no-ranges" => ranges = false,
            "--metalink" => metalink = true,
            "--no-digest" => digest = false,
            "--page" => page = true,
            "--extra" => {
                let Some((name, path)) = args.next().and_then(|v| {
                    v.split_once('=')
                        .map(|(n, p)| (n.to_string(), PathBuf::from(p)))
                }) else {
                    usage()
                };
                let body = match std::fs::read(&path) {
                    Ok(b) => b,
                    Err(e) => {
                        eprintln!("test-origin: {}: {e}", path.display());
                        std::process::exit(1)
                    }
                };
                extra.push(ExtraFile {
                    path: format!("/files/{name}"),
                    body: body.into(),
                    delay: None,
                });
            }
            "--link" => links.push(args.next().unwrap_or_else(|| usage())),
            "--signed-redirect" => {
                signed_redirect = args.next().and_then(|v| v.parse().ok()).or_else(|| usage())
            }
            "--port" => {
                port = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            _ if file.is_none() && !a.starts_with('-') => file = Some(PathBuf::from(a)),
            _ => usage(),
        }
    }
    let Some(file) = file else { usage() };
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "content.bin".into());
    let mut cfg = OriginConfig::new(Content::File(file));
    cfg.path = format!("/files/{name}");
    if let Some(gets) = signed_redirect {
        cfg.redirect_from = Some(cfg.path.clone());
        cfg.path = format!("/blobs/{name}");
        cfg.signed_redirect_gets = Some(gets);
    }
    cfg.throttle_per_connection = throttle;
    cfg.throttle_total = throttle_total;
    cfg.links = links;
    cfg.ranges = ranges;
    cfg.metalink = metalink;
    cfg.stats_path = Some("/stats".into());
    cfg.repr_digest = digest;
    cfg.page_path = page.then(|| "/".into());
    cfg.extra_files = extra;
    // What a user would click: the redirecting link, when there is one.
    let link = cfg.redirect_from.clone();
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("test-origin: cannot bind: {e}");
            std::process::exit(1)
        }
    };
    let origin = match TestOrigin::serve(listener, cfg) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("test-origin: {e}");
            std::process::exit(1)
        }
    };
    match &link {
        Some(path) => println!("{}", origin.url_of(path)),
        None => println!("{}", origin.url()),
    }
    let _ = tokio::signal::ctrl_c().await;
}
