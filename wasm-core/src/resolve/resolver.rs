//! The resolver: one download's search for its trusted SHA-256 after the probe,
//! sans-IO. It asks the driver to fetch documents and the group's trackers, and
//! says what they mean:
//!
//! 1. the probe's own headers and URL (already in the [`Probe`]);
//! 2. the Metalink the headers point at, on the same origin;
//! 3. checksum lists beside the file: the fixed names, the lists the directory's
//!    index page names, `SHA256SUMS` up to three directories up; all of them must
//!    agree;
//! 4. the group's mapping (in `trusted_group` mode), asked at once with the lists
//!    but taken only when the lists gave nothing: the origin's word comes first.
//!
//! ```text
//! let mut r = Resolver::new(probe, setup, &memory, now);
//! loop { match r.poll_action() { Fetch(f) => …, LookUpGroup(s) => …, Probed(p) => …, Done(res) => break, … } }
//! r.handle_document(now, id, Ok(doc)); r.handle_group(now, found); r.handle_timeout(now);
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use url::Url;

use super::memory::DirectoryMemory;
use super::probe::{Probe, ProbeError};
use crate::checksum_file::{
    MAX_LIST_BYTES, PARENT_LIST, agreed, candidates, directory, file_name, find, indexed_lists,
    is_single_file_list, parent_lists,
};
use crate::content::Hash32;
use crate::engine::Time;
use crate::group_mapping::Subject;
use crate::metalink;
use crate::trusted_digest::DigestSource;

/// How long each part of a look-up may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// The Metalink document.
    pub metalink: Duration,
    /// One checksum list or index page: a name a server stalls on must not cost the
    /// others (the look-up waits for every answer before choosing).
    pub document: Duration,
    /// The lists and the group together.
    pub lookup: Duration,
}

impl Budgets {
    /// For a look-up that runs beside a download that has started (the native
    /// host): the swarm joins whenever the digest arrives.
    pub const BESIDE_DOWNLOAD: Budgets = Budgets {
        metalink: Duration::from_secs(10),
        document: Duration::from_secs(3),
        lookup: Duration::from_secs(5),
    };
    /// For a look-up that holds a paused download (the browser-only peer).
    pub const HOLDING_DOWNLOAD: Budgets = Budgets {
        metalink: HOLD,
        document: HOLD,
        lookup: HOLD,
    };
}

/// How long a paused download waits for a look-up that goes on beside it.
pub const HOLD: Duration = Duration::from_millis(1500);

/// What a resolver is set up to do.
#[derive(Debug, Clone)]
pub struct Setup {
    pub budgets: Budgets,
    /// Where lists are looked for: the link the user clicked, before redirects;
    /// `None` for the URL the probe asked for.
    pub beside: Option<Url>,
    /// Whether the group's mappings are asked (`trusted_group` mode).
    pub group: bool,
    /// Whether to read the Metalink the probe names (a driver that has read it
    /// already, for the same probe, says no).
    pub metalink: bool,
    /// Whether to go on after the Metalink (lists, group); without, the resolver
    /// stops once it has said [`Action::Probed`].
    pub look_further: bool,
}

impl Setup {
    /// The whole order, for a download that waits for it.
    pub fn whole(budgets: Budgets) -> Setup {
        Setup {
            budgets,
            beside: None,
            group: false,
            metalink: true,
            look_further: true,
        }
    }
}

/// A fetch the resolver asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FetchId(pub u64);

/// Fetch `url` with a plain `GET` (no cookies, no credentials) and hand back a 200's
/// body, within `max_bytes` and `timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub id: FetchId,
    pub url: Url,
    pub max_bytes: usize,
    pub timeout: Duration,
    /// Whether the download's own request headers go along (the Metalink is part of
    /// the download's origin; lists are not asked in the user's name).
    pub with_request_headers: bool,
}

/// A document fetched: a 200 within the bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Where the request ended, after redirects.
    pub url: Url,
    /// The media type, as sent.
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Why a fetch gave no document (another status, too large, timed out, a network
/// error), for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoDocument(pub String);

/// A trusted digest found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub sha256: Hash32,
    pub source: DigestSource,
    /// The checksum list that named it, for `DigestSource::ChecksumFile`.
    pub list: Option<Url>,
}

/// Why a download has no trusted digest, and so is not swarmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    #[error("the URL carries credentials")]
    Credentials,
    #[error(
        "the origin publishes no SHA-256: no digest header, no Metalink, no checksum list beside the file"
    )]
    NoDigest,
    #[error(
        "the origin publishes no SHA-256 (no digest header, no Metalink, no checksum list beside the file) and the group has no mapping for it yet"
    )]
    NoDigestInGroup,
    #[error("the checksum lists beside the file disagree about it")]
    ListsDisagree,
    #[error("the origin's checksum lists did not answer in time")]
    TooSlow,
}

/// How a look-up ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub found: Option<Found>,
    /// Why nothing was found.
    pub reason: Option<Reason>,
    /// A directory whose lists gave nothing, for [`Resolution::teach`].
    pub directory_without_lists: Option<Url>,
    /// Lists refused as malformed or off HTTPS, for the log.
    pub refused: Vec<(Url, String)>,
}

impl Resolution {
    /// Tells `memory` what the look-up found: a directory whose lists gave nothing
    /// (or did not answer within the budget) is left alone for a while.
    pub fn teach(&self, memory: &mut DirectoryMemory, now: Time) {
        if let Some(dir) = &self.directory_without_lists {
            memory.remember_empty(dir, now);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Fetch(Fetch),
    /// Ask the group's trackers for the mapping of this subject; answer with
    /// [`Resolver::handle_group`].
    LookUpGroup(Subject),
    /// The probe with what its headers and Metalink say: said once, before any list
    /// is asked for. A download may start on it.
    Probed(Box<Probe>),
    /// The Metalink contradicts the headers: the download must not go on.
    Refused(ProbeError),
    /// The end; anything still being fetched can be dropped.
    Done(Resolution),
}

#[derive(Debug, Clone)]
enum Doc {
    Metalink,
    Index,
    /// A list; `rank` orders findings, most specific first.
    List {
        rank: usize,
        names: Vec<String>,
        single: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Metalink,
    Lookup,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Group {
    NotAsked,
    Waiting,
    Answered(Option<Hash32>),
}

/// Findings from the index's lists rank after the fixed names, those from above
/// after both.
const INDEXED_RANK: usize = 1_000;
const PARENT_RANK: usize = 2_000;

pub struct Resolver {
    probe: Probe,
    setup: Setup,
    stage: Stage,
    actions: VecDeque<Action>,
    next_id: u64,
    pending: BTreeMap<FetchId, (Doc, Time)>,
    /// Where lists are looked for: beside this URL.
    beside: Url,
    /// The lists' directory, when they are looked for.
    dir: Option<Url>,
    /// The names the file goes by.
    names: Vec<String>,
    /// List names asked for in `dir`.
    asked: Vec<String>,
    found: Vec<(usize, Found)>,
    refused: Vec<(Url, String)>,
    group: Group,
    deadline: Option<Time>,
    /// Whether a list or index did not answer within its budget.
    timed_out: bool,
}

impl Resolver {
    pub fn new(probe: Probe, setup: Setup, memory: &DirectoryMemory, now: Time) -> Resolver {
        let beside = setup
            .beside
            .clone()
            .unwrap_or_else(|| probe.requested.clone());
        let dir = directory(&beside).filter(|d| !memory.knows_empty(d, now));
        let mut names = vec![probe.filename.clone()];
        if let Some(last) = file_name(&beside).filter(|l| !names.contains(l)) {
            names.push(last);
        }
        names.retain(|n| !n.is_empty());
        let mut r = Resolver {
            probe,
            setup,
            stage: Stage::Metalink,
            actions: VecDeque::new(),
            next_id: 0,
            pending: BTreeMap::new(),
            beside,
            dir,
            names,
            asked: Vec::new(),
            found: Vec::new(),
            refused: Vec::new(),
            group: Group::NotAsked,
            deadline: None,
            timed_out: false,
        };
        r.start(now);
        r
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The earliest time [`Resolver::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Time> {
        let fetches = self.pending.values().map(|(_, at)| *at);
        fetches.chain(self.deadline).min()
    }

    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Whether the look-up goes on after [`Action::Probed`]: a download that has no
    /// digest yet may still get one.
    pub fn looking(&self) -> bool {
        self.stage == Stage::Lookup
    }

    pub fn handle_timeout(&mut self, now: Time) {
        let overdue: Vec<FetchId> = self
            .pending
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in overdue {
            self.timed_out |= self.stage == Stage::Lookup;
            self.handle_document(now, id, Err(NoDocument("timed out".into())));
        }
        if self.stage == Stage::Lookup && self.deadline.is_some_and(|d| d <= now) {
            self.out_of_time();
        }
    }

    /// What a fetch the resolver asked for gave.
    pub fn handle_document(&mut self, now: Time, id: FetchId, got: Result<Document, NoDocument>) {
        let Some((doc, _)) = self.pending.remove(&id) else {
            return;
        };
        match (doc, got) {
            (Doc::Metalink, got) => self.metalink_read(now, got),
            (_, Err(_)) => {}
            (Doc::Index, Ok(d)) => self.index_read(now, d),
            (
                Doc::List {
                    rank,
                    names,
                    single,
                },
                Ok(d),
            ) => self.list_read(rank, &names, single, d),
        }
        self.settle();
    }

    /// What the group's trackers said (`None`: no mapping, or no answer).
    pub fn handle_group(&mut self, sha256: Option<Hash32>) {
        if self.group == Group::Waiting {
            self.group = Group::Answered(sha256);
            self.settle();
        }
    }

    fn start(&mut self, now: Time) {
        let Some(at) = self.probe.metalink.clone().filter(|_| self.setup.metalink) else {
            return self.after_metalink(now);
        };
        // The document is trusted as much as the origin: from that origin only.
        let limit = usize::try_from(metalink::max_bytes(self.probe.size)).unwrap_or(usize::MAX);
        if !metalink::same_origin(&at, &self.probe.url) {
            return self.after_metalink(now);
        }
        self.fetch(now, at, Doc::Metalink, limit, self.setup.budgets.metalink);
    }

    fn metalink_read(&mut self, now: Time, got: Result<Document, NoDocument>) {
        let read = got.ok().and_then(|d| {
            // A redirect must not lead the trust elsewhere.
            if !metalink::same_origin(&d.url, &self.probe.url) {
                return None;
            }
            let text = String::from_utf8(d.body).ok()?;
            metalink::parse(&text, &self.probe.filename, self.probe.size).ok()
        });
        if let Some(m) = read {
            let p = &mut self.probe;
            if let (Some(header), Some(ml)) = (p.digest, m.sha256)
                && header != ml
            {
                self.stage = Stage::Done;
                self.actions
                    .push_back(Action::Refused(ProbeError::MetalinkConflict {
                        header,
                        metalink: ml,
                    }));
                return;
            }
            if p.digest.is_none() && m.sha256.is_some() {
                p.digest = m.sha256;
                p.digest_source = Some(DigestSource::Metalink);
            }
            // The leaf layer and the mirrors are trusted for the content the
            // document names.
            if m.sha256.is_some() && m.sha256 == p.digest {
                p.leaves = m.leaves.map(std::sync::Arc::new);
                let listed = p
                    .mirrors
                    .drain(..)
                    .map(|u| (u, 0))
                    .chain(m.mirrors)
                    .collect();
                p.mirrors = metalink::usable_mirrors(listed, &p.url);
            }
        }
        self.after_metalink(now);
    }

    fn after_metalink(&mut self, now: Time) {
        self.actions
            .push_back(Action::Probed(Box::new(self.probe.clone())));
        if !self.setup.look_further {
            self.stage = Stage::Done;
            return;
        }
        if let (Some(sha256), Some(source)) = (self.probe.digest, self.probe.digest_source) {
            return self.done(
                Some(Found {
                    sha256,
                    source,
                    list: None,
                }),
                None,
                None,
            );
        }
        if self.probe.has_credentials() {
            return self.done(None, Some(Reason::Credentials), None);
        }
        let subject = self.setup.group.then(|| group_subject(&self.probe).ok());
        if self.dir.is_none() && subject.as_ref().is_none_or(Option::is_none) {
            return self.done(None, Some(self.no_digest()), None);
        }
        self.stage = Stage::Lookup;
        self.deadline = Some(now + self.setup.budgets.lookup);
        if let Some(Some(subject)) = subject {
            self.group = Group::Waiting;
            self.actions.push_back(Action::LookUpGroup(subject));
        }
        if let Some(dir) = self.dir.clone() {
            self.ask_lists(now, &dir);
        }
        self.settle();
    }

    /// The fixed names, the index page and the lists above, all at once.
    fn ask_lists(&mut self, now: Time, dir: &Url) {
        let names = self.names.clone();
        let mut rank = 0;
        for name in &names {
            for c in candidates(name) {
                if self.asked.contains(&c) {
                    continue;
                }
                self.asked.push(c.clone());
                let single = is_single_file_list(&c, name);
                self.ask_list(now, dir, &c, rank, names.clone(), single);
                rank += 1;
            }
        }
        self.fetch(
            now,
            dir.clone(),
            Doc::Index,
            MAX_LIST_BYTES,
            self.setup.budgets.document,
        );
        // Mozilla's layout: one SHA256SUMS a few directories up names every file
        // below it by its path from there.
        for (i, (parent, path)) in parent_lists(dir, &self.beside).into_iter().enumerate() {
            self.ask_list(
                now,
                &parent,
                PARENT_LIST,
                PARENT_RANK + i,
                vec![path],
                false,
            );
        }
    }

    fn ask_list(
        &mut self,
        now: Time,
        dir: &Url,
        name: &str,
        rank: usize,
        names: Vec<String>,
        single: bool,
    ) {
        // A joined name cannot leave the directory (no slashes in candidates or
        // indexed names), but check the origin anyway: that is the whole trust rule.
        let Some(url) = dir.join(name).ok().filter(|u| u.origin() == dir.origin()) else {
            return;
        };
        let doc = Doc::List {
            rank,
            names,
            single,
        };
        self.fetch(now, url, doc, MAX_LIST_BYTES, self.setup.budgets.document);
    }

    fn index_read(&mut self, now: Time, d: Document) {
        // Only an HTML page is an index; a text answer is not a directory listing.
        let Some(dir) = self.dir.clone() else { return };
        if !self.kept_https(&d) || !d.content_type.to_ascii_lowercase().starts_with("text/html") {
            return;
        }
        let more = indexed_lists(&d.body, &self.asked);
        for (i, name) in more.into_iter().enumerate() {
            self.asked.push(name.clone());
            self.ask_list(
                now,
                &dir,
                &name,
                INDEXED_RANK + i,
                self.names.clone(),
                false,
            );
        }
    }

    fn list_read(&mut self, rank: usize, names: &[String], single: bool, d: Document) {
        if !self.kept_https(&d) {
            self.refused
                .push((d.url, "redirected off HTTPS: ignored".into()));
            return;
        }
        for n in names {
            match find(&d.body, n, single) {
                Ok(Some(sha256)) => {
                    let found = Found {
                        sha256,
                        source: DigestSource::ChecksumFile,
                        list: Some(d.url),
                    };
                    self.found.push((rank, found));
                    return;
                }
                Ok(None) => {}
                Err(e) => {
                    self.refused.push((d.url, e.to_string()));
                    return;
                }
            }
        }
    }

    /// An HTTPS download's lists count only when they stayed on HTTPS.
    fn kept_https(&self, d: &Document) -> bool {
        let https = self.dir.as_ref().is_some_and(|dir| dir.scheme() == "https");
        !https || d.url.scheme() == "https"
    }

    /// Ends the look-up once the lists and the group have all answered, or the
    /// lists found something (which outranks the group).
    fn settle(&mut self) {
        if self.stage != Stage::Lookup {
            return;
        }
        let lists_done = self.pending.is_empty();
        if !lists_done {
            return;
        }
        let mut found = std::mem::take(&mut self.found);
        found.sort_by_key(|(rank, _)| *rank);
        let lists = agreed(found, |(_, f)| f.sha256);
        let without = self.dir.clone();
        match lists {
            Ok(Some((_, f))) => return self.done(Some(f), None, None),
            Err(_) => return self.done(None, Some(Reason::ListsDisagree), without),
            Ok(None) => {}
        }
        match self.group {
            Group::Waiting => {}
            Group::Answered(Some(sha256)) => {
                let f = Found {
                    sha256,
                    source: DigestSource::Group,
                    list: None,
                };
                self.done(Some(f), None, without)
            }
            _ => {
                let reason = self.no_digest();
                self.done(None, Some(reason), without)
            }
        }
    }

    fn out_of_time(&mut self) {
        let lists_done = self.pending.is_empty();
        let reason = if lists_done {
            self.no_digest()
        } else {
            Reason::TooSlow
        };
        let without = self.dir.clone();
        self.pending.clear();
        self.done(None, Some(reason), without);
    }

    fn no_digest(&self) -> Reason {
        if self.timed_out {
            Reason::TooSlow
        } else if self.setup.group {
            Reason::NoDigestInGroup
        } else {
            Reason::NoDigest
        }
    }

    fn fetch(&mut self, now: Time, url: Url, doc: Doc, max_bytes: usize, timeout: Duration) {
        let id = FetchId(self.next_id);
        self.next_id += 1;
        let with_request_headers = matches!(doc, Doc::Metalink);
        self.pending.insert(id.clone(), (doc, now + timeout));
        self.actions.push_back(Action::Fetch(Fetch {
            id,
            url,
            max_bytes,
            timeout,
            with_request_headers,
        }));
    }

    fn done(&mut self, found: Option<Found>, reason: Option<Reason>, without: Option<Url>) {
        self.stage = Stage::Done;
        self.pending.clear();
        self.deadline = None;
        self.actions.push_back(Action::Done(Resolution {
            found,
            reason,
            directory_without_lists: without,
            refused: std::mem::take(&mut self.refused),
        }));
    }
}

/// What the group's mapping for a download is filed under, or why it has none.
pub fn group_subject(p: &Probe) -> Result<Subject, String> {
    if p.has_credentials() {
        return Err("the URL carries credentials".into());
    }
    // An HTTPS link that ended on plain HTTP could have been altered on the way to
    // this one member; the whole group would inherit it.
    if p.requested.scheme() == "https" && p.url.scheme() != "https" {
        return Err("the HTTPS link was redirected to plain HTTP".into());
    }
    Subject::new(
        &p.requested,
        p.etag.as_deref(),
        p.last_modified.as_deref(),
        p.size,
    )
    .map_err(|e| e.to_string())
}
