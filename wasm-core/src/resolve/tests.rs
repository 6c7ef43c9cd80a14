//! The resolver's order, budgets, memory and agreement rules, with time passed in.

use std::time::Duration;

use url::Url;

use super::memory::{NEGATIVE_ENTRIES, NEGATIVE_TTL};
use super::*;
use crate::content::Hash32;
use crate::engine::Time;
use crate::trusted_digest::DigestSource;

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

fn hash(hex: &str) -> Hash32 {
    Hash32::from_hex(hex).unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> Headers {
    pairs.iter().copied().collect()
}

/// The probe of `u` from a first-byte GET with `extra` headers.
fn probe_of(u: &str, extra: &[(&str, &str)]) -> Probe {
    let mut h = vec![("content-range", "bytes 0-0/1000"), ("etag", "\"v1\"")];
    h.extend_from_slice(extra);
    match read_response(&url(u), Asked::FirstByte, 206, &url(u), &headers(&h)) {
        Ok(ProbeStep::Known(p)) => *p,
        other => panic!("{other:?}"),
    }
}

fn setup(group: bool) -> Setup {
    Setup {
        group,
        ..Setup::whole(Budgets::BESIDE_DOWNLOAD)
    }
}

fn drain(r: &mut Resolver) -> Vec<Action> {
    std::iter::from_fn(|| r.poll_action()).collect()
}

fn fetches(actions: &[Action]) -> Vec<Fetch> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Fetch(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

fn done(actions: &[Action]) -> Option<Resolution> {
    actions.iter().find_map(|a| match a {
        Action::Done(r) => Some(r.clone()),
        _ => None,
    })
}

fn doc(at: &Url, kind: &str, body: &str) -> Result<Document, NoDocument> {
    Ok(Document {
        url: at.clone(),
        content_type: kind.into(),
        body: body.as_bytes().to_vec(),
    })
}

/// Answers every fetch in `fs` with `answer(url)`, collecting what follows.
fn answer_all(
    r: &mut Resolver,
    now: Time,
    fs: &[Fetch],
    answer: impl Fn(&Url) -> Result<Document, NoDocument>,
) -> Vec<Action> {
    let mut out = Vec::new();
    for f in fs {
        r.handle_document(now, f.id.clone(), answer(&f.url));
        out.extend(drain(r));
    }
    out
}

fn missing(_: &Url) -> Result<Document, NoDocument> {
    Err(NoDocument("404".into()))
}

#[test]
fn head_then_first_byte_and_what_each_means() {
    let u = url("https://dl.example/d/x.iso");
    let ok = headers(&[("content-length", "10"), ("accept-ranges", "bytes")]);
    assert!(matches!(
        read_response(&u, Asked::Head, 200, &u, &ok),
        Ok(ProbeStep::Known(_))
    ));
    // A HEAD without Accept-Ranges, or refused, or failing, leads to a GET.
    let no_ranges = headers(&[("content-length", "10")]);
    for (status, h) in [(200, &no_ranges), (405, &ok), (501, &ok), (500, &ok)] {
        assert_eq!(
            read_response(&u, Asked::Head, status, &u, h),
            Ok(ProbeStep::AskFirstByte),
            "{status}"
        );
    }
    assert_eq!(
        read_response(&u, Asked::Head, 404, &u, &ok),
        Err(ProbeError::Status(404))
    );
    // The GET: a 206's total, a 200's length, an empty file's 416.
    let p = probe_of(u.as_str(), &[]);
    assert_eq!((p.size, p.ranges), (1000, true));
    let full = headers(&[("content-length", "7")]);
    match read_response(&u, Asked::FirstByte, 200, &u, &full) {
        Ok(ProbeStep::Known(p)) => assert_eq!((p.size, p.ranges), (7, false)),
        other => panic!("{other:?}"),
    }
    let empty = headers(&[("content-range", "bytes */0")]);
    assert!(matches!(
        read_response(&u, Asked::FirstByte, 416, &u, &empty),
        Ok(ProbeStep::Known(p)) if p.size == 0
    ));
    assert_eq!(
        read_response(&u, Asked::FirstByte, 206, &u, &Headers::new()),
        Err(ProbeError::UnknownSize)
    );
    assert_eq!(
        read_response(&url("ftp://x/y"), Asked::FirstByte, 200, &u, &full),
        Err(ProbeError::Scheme)
    );
}

#[test]
fn the_probe_reads_digests_validators_and_names() {
    let b64 = "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo=";
    let repr = format!("sha-256=:{b64}:");
    let p = probe_of(
        "https://dl.example/d/x.iso",
        &[
            ("repr-digest", &repr),
            ("content-disposition", "attachment; filename=\"y.iso\""),
            ("content-type", "application/x-iso9660-image"),
        ],
    );
    assert_eq!(p.digest, Some(hash(A)));
    assert_eq!(p.digest_source, Some(DigestSource::Header));
    assert_eq!(p.filename, "y.iso");
    assert_eq!(p.etag.as_deref(), Some("\"v1\""));
    assert_eq!(
        p.content_type.as_deref(),
        Some("application/x-iso9660-image")
    );
    // Content-Digest is about this response's body: not the file, on a 206.
    let cd = format!("sha-256=:{b64}:");
    let p = probe_of("https://dl.example/x", &[("content-digest", &cd)]);
    assert_eq!(p.digest, None);
    // A weak ETag cannot guard a range.
    let p = probe_of("https://dl.example/x", &[("etag", "W/\"w\"")]);
    assert_eq!(p.etag.as_deref(), Some("\"v1\""), "the first ETag is read");
    let u = url("https://dl.example/x");
    let weak = headers(&[("content-range", "bytes 0-0/5"), ("etag", "W/\"w\"")]);
    match read_response(&u, Asked::FirstByte, 206, &u, &weak) {
        Ok(ProbeStep::Known(p)) => assert_eq!(p.etag, None),
        other => panic!("{other:?}"),
    }
    // The URL's fragment names the digest when the headers do not.
    let p = probe_of(&format!("https://dl.example/x#sha256={B}"), &[]);
    assert_eq!(p.digest, Some(hash(B)));
    assert_eq!(p.digest_source, Some(DigestSource::Explicit));
    assert_eq!(p.requested.fragment(), None);
    // Unencoded-Digest is the origin's word as Repr-Digest is, and the only one that
    // names the saved bytes of a content-coded response.
    let ud = format!("sha-256=:{b64}:");
    let p = probe_of("https://dl.example/x", &[("unencoded-digest", &ud)]);
    assert_eq!(p.digest, Some(hash(A)));
    assert_eq!(p.digest_source, Some(DigestSource::Header));
    let p = probe_of(
        "https://dl.example/x",
        &[("repr-digest", &repr), ("content-encoding", "gzip")],
    );
    assert_eq!(
        p.digest, None,
        "a coded response's Repr-Digest is of the coded bytes"
    );
    // A malformed digest header is an error, said plainly.
    let u = url("https://dl.example/x");
    let bad = headers(&[
        ("content-range", "bytes 0-0/5"),
        ("repr-digest", "sha-256=:x:"),
    ]);
    assert!(matches!(
        read_response(&u, Asked::FirstByte, 206, &u, &bad),
        Err(ProbeError::Digest(_))
    ));
}

#[test]
fn a_header_digest_needs_no_fetch() {
    let p = probe_of(&format!("https://dl.example/x#sha256={A}"), &[]);
    let mut r = Resolver::new(p, setup(true), &DirectoryMemory::new(), Time::ZERO);
    let a = drain(&mut r);
    assert!(matches!(&a[0], Action::Probed(p) if p.digest == Some(hash(A))));
    let res = done(&a).unwrap();
    assert_eq!(res.found.unwrap().source, DigestSource::Explicit);
    assert!(fetches(&a).is_empty());
    assert!(r.is_done());
}

fn metalink_doc(sha: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="x.iso"><size>1000</size><hash type="sha-256">{sha}</hash><url priority="1">https://mirror.example/x.iso</url></file></metalink>"#
    )
}

const DESCRIBEDBY: &str = r#"<x.iso.meta4>; rel=describedby; type="application/metalink4+xml""#;

#[test]
fn the_metalink_comes_before_the_lists_and_may_name_the_digest() {
    let p = probe_of("https://dl.example/d/x.iso", &[("link", DESCRIBEDBY)]);
    let mut r = Resolver::new(p, setup(false), &DirectoryMemory::new(), Time::ZERO);
    let a = drain(&mut r);
    let f = fetches(&a);
    assert_eq!(f.len(), 1, "only the Metalink first: {a:?}");
    assert_eq!(f[0].url.as_str(), "https://dl.example/d/x.iso.meta4");
    assert!(f[0].with_request_headers);
    assert_eq!(f[0].timeout, Budgets::BESIDE_DOWNLOAD.metalink);
    r.handle_document(
        Time::ZERO,
        f[0].id.clone(),
        doc(&f[0].url, "application/metalink4+xml", &metalink_doc(A)),
    );
    let a = drain(&mut r);
    match &a[0] {
        Action::Probed(p) => {
            assert_eq!(p.digest, Some(hash(A)));
            assert_eq!(p.digest_source, Some(DigestSource::Metalink));
            assert_eq!(p.mirrors, [url("https://mirror.example/x.iso")]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        done(&a).unwrap().found.unwrap().source,
        DigestSource::Metalink
    );
}

/// What follows the Metalink naming `A` for a download whose URL names `fragment`.
fn after_metalink_naming_a(fragment: &str) -> Vec<Action> {
    let p = probe_of(
        &format!("https://dl.example/d/x.iso#sha256={fragment}"),
        &[("link", DESCRIBEDBY)],
    );
    let mut r = Resolver::new(p, setup(false), &DirectoryMemory::new(), Time::ZERO);
    let f = fetches(&drain(&mut r));
    r.handle_document(
        Time::ZERO,
        f[0].id.clone(),
        doc(&f[0].url, "", &metalink_doc(A)),
    );
    drain(&mut r)
}

#[test]
fn a_metalink_that_contradicts_the_headers_stops_the_download() {
    let a = after_metalink_naming_a(B);
    assert!(
        matches!(
            &a[..],
            [Action::Refused(ProbeError::MetalinkConflict { .. })]
        ),
        "{a:?}"
    );
    // The control: one that agrees is taken, with its mirrors.
    let a = after_metalink_naming_a(A);
    assert!(matches!(&a[0], Action::Probed(p) if p.mirrors.len() == 1));
}

#[test]
fn a_metalink_redirected_to_another_origin_is_not_trusted() {
    let p = probe_of("https://dl.example/d/x.iso", &[("link", DESCRIBEDBY)]);
    let mut s = setup(false);
    s.look_further = false;
    let mut r = Resolver::new(p, s, &DirectoryMemory::new(), Time::ZERO);
    let f = fetches(&drain(&mut r));
    let elsewhere = url("https://evil.example/x.iso.meta4");
    r.handle_document(
        Time::ZERO,
        f[0].id.clone(),
        doc(&elsewhere, "", &metalink_doc(A)),
    );
    let a = drain(&mut r);
    assert!(
        matches!(&a[..], [Action::Probed(p)] if p.digest.is_none()),
        "{a:?}"
    );
    assert!(
        r.is_done(),
        "without look_further the resolver stops at the probe"
    );
}

#[test]
fn lists_are_asked_together_and_all_answers_are_awaited() {
    let p = probe_of("https://dl.example/pub/v1/x.iso", &[]);
    let mut r = Resolver::new(p, setup(false), &DirectoryMemory::new(), Time::ZERO);
    let a = drain(&mut r);
    assert!(matches!(&a[0], Action::Probed(_)));
    assert!(r.looking());
    let f = fetches(&a);
    let urls: Vec<&str> = f.iter().map(|f| f.url.as_str()).collect();
    assert!(
        urls.contains(&"https://dl.example/pub/v1/x.iso.sha256"),
        "{urls:?}"
    );
    assert!(urls.contains(&"https://dl.example/pub/v1/SHA256SUMS"));
    assert!(urls.contains(&"https://dl.example/pub/v1/"), "the index");
    assert!(
        urls.contains(&"https://dl.example/pub/SHA256SUMS"),
        "a parent"
    );
    assert!(f.iter().all(|f| !f.with_request_headers));
    assert!(
        f.iter()
            .all(|f| f.url.origin() == url("https://dl.example/").origin())
    );
    // One list answers; the rest are still out, so nothing is decided yet.
    let sums = f
        .iter()
        .find(|f| f.url.as_str().ends_with("v1/SHA256SUMS"))
        .unwrap()
        .clone();
    r.handle_document(
        Time::ZERO,
        sums.id.clone(),
        doc(&sums.url, "text/plain", &format!("{A}  x.iso\n")),
    );
    assert!(done(&drain(&mut r)).is_none());
    let rest: Vec<Fetch> = f.into_iter().filter(|x| x.id != sums.id).collect();
    let a = answer_all(&mut r, Time::ZERO, &rest, missing);
    let res = done(&a).unwrap();
    let found = res.found.unwrap();
    assert_eq!(found.sha256, hash(A));
    assert_eq!(found.source, DigestSource::ChecksumFile);
    assert_eq!(
        found.list.unwrap().as_str(),
        "https://dl.example/pub/v1/SHA256SUMS"
    );
    assert_eq!(res.directory_without_lists, None);
}

#[test]
fn lists_that_disagree_prove_nothing() {
    let p = probe_of("https://dl.example/d/x.iso", &[]);
    let mut r = Resolver::new(p, setup(false), &DirectoryMemory::new(), Time::ZERO);
    let f = fetches(&drain(&mut r));
    let a = answer_all(&mut r, Time::ZERO, &f, |u| match u.path() {
        "/d/SHA256SUMS" => doc(u, "text/plain", &format!("{A}  x.iso\n")),
        "/d/x.iso.sha256" => doc(u, "text/plain", B),
        _ => missing(u),
    });
    let res = done(&a).unwrap();
    assert_eq!(res.found, None);
    assert_eq!(res.reason, Some(Reason::ListsDisagree));
}

#[test]
fn the_index_names_more_lists_and_https_lists_must_stay_https() {
    let p = probe_of("https://dl.example/d/x.iso", &[]);
    let mut r = Resolver::new(p, setup(false), &DirectoryMemory::new(), Time::ZERO);
    let f = fetches(&drain(&mut r));
    let index = r#"<html><a href="release-checksums.sha256">sums</a></html>"#;
    let a = answer_all(&mut r, Time::ZERO, &f, |u| match u.path() {
        "/d/" => doc(u, "text/html; charset=utf-8", index),
        // Redirected to plain HTTP: does not count.
        "/d/SHA256SUMS" => doc(
            &url("http://dl.example/d/SHA256SUMS"),
            "text/plain",
            &format!("{B}  x.iso\n"),
        ),
        _ => missing(u),
    });
    let more = fetches(&a);
    assert_eq!(more.len(), 1, "{a:?}");
    assert_eq!(
        more[0].url.as_str(),
        "https://dl.example/d/release-checksums.sha256"
    );
    let a = answer_all(&mut r, Time::ZERO, &more, |u| {
        doc(u, "text/plain", &format!("{A}  x.iso\n"))
    });
    let res = done(&a).unwrap();
    assert_eq!(res.found.unwrap().sha256, hash(A));
    assert_eq!(res.refused.len(), 1, "{:?}", res.refused);
}

#[test]
fn the_lists_outrank_the_group_and_the_group_fills_in() {
    // The group answers first, but a list names the file: the list wins.
    let p = probe_of("https://dl.example/d/x.iso", &[]);
    let mut r = Resolver::new(p.clone(), setup(true), &DirectoryMemory::new(), Time::ZERO);
    let a = drain(&mut r);
    assert!(
        a.iter()
            .any(|a| matches!(a, Action::LookUpGroup(s) if s.size == 1000))
    );
    r.handle_group(Some(hash(B)));
    assert!(done(&drain(&mut r)).is_none(), "the lists are still out");
    let f = fetches(&a);
    let res = done(&answer_all(&mut r, Time::ZERO, &f, |u| match u.path() {
        "/d/SHA256SUMS" => doc(u, "text/plain", &format!("{A}  x.iso\n")),
        _ => missing(u),
    }))
    .unwrap();
    assert_eq!(res.found.unwrap().source, DigestSource::ChecksumFile);
    // Without lists, the group's mapping is taken.
    let mut r = Resolver::new(p.clone(), setup(true), &DirectoryMemory::new(), Time::ZERO);
    let f = fetches(&drain(&mut r));
    assert!(done(&answer_all(&mut r, Time::ZERO, &f, missing)).is_none());
    r.handle_group(Some(hash(B)));
    let res = done(&drain(&mut r)).unwrap();
    let found = res.found.unwrap();
    assert_eq!((found.sha256, found.source), (hash(B), DigestSource::Group));
    assert!(res.directory_without_lists.is_some());
    // Neither: the reason says the group was asked.
    let mut r = Resolver::new(p, setup(true), &DirectoryMemory::new(), Time::ZERO);
    let f = fetches(&drain(&mut r));
    answer_all(&mut r, Time::ZERO, &f, missing);
    r.handle_group(None);
    assert_eq!(
        done(&drain(&mut r)).unwrap().reason,
        Some(Reason::NoDigestInGroup)
    );
}

#[test]
fn the_budget_bounds_the_look_up_and_an_empty_directory_is_remembered() {
    let p = probe_of("https://dl.example/d/x.iso", &[]);
    let mut memory = DirectoryMemory::new();
    let mut r = Resolver::new(p.clone(), setup(false), &memory, Time::ZERO);
    let f = fetches(&drain(&mut r));
    // Each document has its own, shorter, bound.
    assert!(
        f.iter()
            .all(|f| f.timeout == Budgets::BESIDE_DOWNLOAD.document)
    );
    assert_eq!(
        r.poll_timeout(),
        Some(Time::ZERO + Budgets::BESIDE_DOWNLOAD.document)
    );
    // A server that stalls on every name: the documents time out, then nothing.
    r.handle_timeout(Time::ZERO + Budgets::BESIDE_DOWNLOAD.document);
    let res = done(&drain(&mut r)).unwrap();
    assert_eq!(res.reason, Some(Reason::TooSlow));
    let dir = res.directory_without_lists.clone().unwrap();
    assert_eq!(dir.as_str(), "https://dl.example/d/");
    res.teach(&mut memory, Time::ZERO);
    // The next download from there asks nothing.
    let later = Time::ZERO + Duration::from_secs(60);
    let mut r = Resolver::new(p.clone(), setup(false), &memory, later);
    let a = drain(&mut r);
    assert!(fetches(&a).is_empty(), "{a:?}");
    assert_eq!(done(&a).unwrap().reason, Some(Reason::NoDigest));
    // Until the memory fades.
    let much_later = Time::ZERO + NEGATIVE_TTL + Duration::from_secs(1);
    let mut r = Resolver::new(p.clone(), setup(false), &memory, much_later);
    assert!(!fetches(&drain(&mut r)).is_empty());
    // The whole look-up's budget, when answers trickle in too slowly.
    let mut s = setup(false);
    s.budgets = Budgets::HOLDING_DOWNLOAD;
    let mut r = Resolver::new(p, s, &DirectoryMemory::new(), Time::ZERO);
    let f = fetches(&drain(&mut r));
    r.handle_document(Time::ZERO, f[0].id.clone(), missing(&f[0].url));
    r.handle_timeout(Time::ZERO + HOLD);
    let res = done(&drain(&mut r)).unwrap();
    assert_eq!(res.reason, Some(Reason::TooSlow));
}

#[test]
fn nothing_is_looked_up_for_a_url_with_credentials() {
    let p = probe_of("https://user:pw@dl.example/d/x.iso", &[]);
    assert_eq!(p.url.username(), "user", "kept for the ranges, same host");
    let mut r = Resolver::new(p, setup(true), &DirectoryMemory::new(), Time::ZERO);
    let a = drain(&mut r);
    assert!(fetches(&a).is_empty());
    assert!(!a.iter().any(|a| matches!(a, Action::LookUpGroup(_))));
    assert_eq!(done(&a).unwrap().reason, Some(Reason::Credentials));
}

#[test]
fn lists_are_looked_for_beside_the_link_the_user_clicked() {
    let p = probe_of("https://cdn.example/blob/123", &[]);
    let mut s = setup(false);
    s.beside = Some(url("https://dl.example/rel/x.iso"));
    let mut r = Resolver::new(p, s, &DirectoryMemory::new(), Time::ZERO);
    let f = fetches(&drain(&mut r));
    assert!(
        f.iter().all(|f| f.url.host_str() == Some("dl.example")),
        "{f:?}"
    );
    assert!(f.iter().any(|f| f.url.path() == "/rel/x.iso.sha256"));
}

#[test]
fn the_memory_is_bounded() {
    let mut m = DirectoryMemory::new();
    let mut res = Resolution {
        found: None,
        reason: None,
        directory_without_lists: None,
        refused: Vec::new(),
    };
    for i in 0..NEGATIVE_ENTRIES + 10 {
        res.directory_without_lists = Some(url(&format!("https://h{i}.example/")));
        res.teach(&mut m, Time::ZERO);
    }
    assert!(m.len() <= NEGATIVE_ENTRIES);
    assert!(m.knows_empty(
        &url(&format!("https://h{}.example/", NEGATIVE_ENTRIES + 9)),
        Time::ZERO
    ));
}
