//! Resolution from arbitrary input: a probe response with arbitrary status and
//! headers, then a resolver fed arbitrary documents (Metalinks, checksum lists,
//! index pages, from anywhere), group answers and times. None may panic; the
//! resolver must end within its budget, and anything it finds must come from the
//! download's own origin or the group.
#![no_main]

use libfuzzer_sys::fuzz_target;
use swarmload_core::content::Hash32;
use swarmload_core::engine::Time;
use swarmload_core::resolve::probe::{Asked, Headers, ProbeStep};
use swarmload_core::resolve::{
    Action, Budgets, DirectoryMemory, Document, NoDocument, Resolver, Setup, read_response,
};
use swarmload_core::trusted_digest::DigestSource;

fuzz_target!(|data: &[u8]| {
    let Some((&[status_lo, flags], rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.split('\u{0}');
    let head = parts.next().unwrap_or_default();
    let headers: Headers = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim(), v.trim()))
        .collect();
    let requested = url::Url::parse("https://dl.example/pub/v1/file.iso").unwrap();
    let status = 200 + u16::from(status_lo) % 4 * 6 + u16::from(status_lo >> 6) * 100;
    let asked = if flags & 1 == 0 {
        Asked::Head
    } else {
        Asked::FirstByte
    };
    let Ok(ProbeStep::Known(probe)) =
        read_response(&requested, asked, status, &requested, &headers)
    else {
        return;
    };
    let setup = Setup {
        group: flags & 2 != 0,
        ..Setup::whole(Budgets::BESIDE_DOWNLOAD)
    };
    let mut r = Resolver::new(*probe, setup, &DirectoryMemory::new(), Time::ZERO);
    let mut docs = parts.map(str::as_bytes);
    let mut now = Time::ZERO;
    for step in 0..200u32 {
        let mut fetches = Vec::new();
        while let Some(a) = r.poll_action() {
            match a {
                Action::Fetch(f) => {
                    assert_eq!(f.url.origin(), requested.origin(), "{}", f.url);
                    fetches.push(f);
                }
                Action::LookUpGroup(_) => r.handle_group(docs.next().map(|_| Hash32([7; 32]))),
                Action::Done(res) => {
                    if let Some(f) = res.found {
                        assert!(f.source != DigestSource::ChecksumFile || f.list.is_some());
                    }
                }
                Action::Probed(_) | Action::Refused(_) => {}
            }
        }
        if r.is_done() {
            return;
        }
        for f in fetches {
            let got = match docs.next() {
                Some(body) => Ok(Document {
                    url: f.url.clone(),
                    content_type: if step % 2 == 0 {
                        "text/html"
                    } else {
                        "text/plain"
                    }
                    .into(),
                    body: body.to_vec(),
                }),
                None => Err(NoDocument("404".into())),
            };
            r.handle_document(now, f.id, got);
        }
        now = now + std::time::Duration::from_millis(250);
        r.handle_timeout(now);
    }
    // The whole look-up is bounded by its budget.
    assert!(r.is_done(), "still resolving after 50 s of virtual time");
});
