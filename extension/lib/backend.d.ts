// The one interface both of the extension's backends implement: the native host
// (`HostLink`, lib/host.js, over native messaging) and the browser-only peer
// (`BrowserPeer`, lib/browser_peer.js, the wasm peer in peer/service.js). Types
// only: nothing here runs. The host's side is docs/native-messaging.md (and
// native-host/src/native_messaging/outgoing.rs); the names below are its names.
//
// A backend is asked with `request(message)`, each message naming its `type`, and
// answers with the reply of that request (or rejects with an Error). It reports its
// transfers to the listeners given to `onEvent` with events named by `type`, each
// about one `download`. Both backends know `start`, `cancel` and `status`, and both
// send `progress`, `finished` and `failed`; each also has requests and events of
// its own (the host's `resolve`, the peer's `probe`, ...).

// --- The vocabulary ---------------------------------------------------------------

/** Where a download's trusted SHA-256 came from. */
export type DigestSource = 'header' | 'metalink' | 'checksum_file' | 'group' | 'explicit';

/**
 * What a transfer is doing. The host: `checking` (blocks kept from an earlier run),
 * `downloading`, `verifying`, `complete`, `failed`. The browser peer: `downloading`,
 * `verifying`, `seeding` (complete, and served to the swarm), `failed`, `stopped`.
 */
export type Phase = 'checking' | 'downloading' | 'verifying' | 'complete' | 'seeding' | 'failed' | 'stopped';

/** A request header as `webRequest` reports it. */
export interface Header {
  name: string;
  value: string;
}

export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** The resolved policy (docs/policy.md): every key, all layers applied. */
export interface Policy {
  enabled: boolean;
  trackers: string[];
  ice_servers: IceServer[];
  min_size_bytes: number;
  allowed_domains: string[];
  blocked_domains: string[];
  upload_enabled: boolean;
  browser_seeding: boolean;
  max_upload_bytes_per_sec: number;
  max_download_bytes_per_sec: number;
  cache_max_bytes: number;
  cache_max_age_secs: number;
  group_id: string | null;
  trust_mode: 'origin_digest' | 'trusted_group';
  origin_fallback_delay_ms: number;
}

/** One transfer as a backend reports it: in `progress`, and in `status`'s `active`. */
export interface TransferState {
  download: string;
  size: number;
  /** Bytes held so far. */
  have: number;
  phase: Phase;
}

/** How a transfer is going: what `progress` carries. */
export interface TransferCounts extends TransferState {
  from_peers: number;
  from_origin: number;
  bytes_per_sec: number;
  /** Open peer connections. */
  peers: number;
}

// --- Events (`onEvent`) -----------------------------------------------------------

/** At most a few times a second per running download. */
export interface Progress extends TransferCounts {
  type: 'progress';
  /** Host: bytes the loopback delivery can send so far. */
  deliverable?: number;
  /** Host: set once a digest is learned on the way (a checksum list, the group). */
  digest_source?: DigestSource | null;
}

/** The whole file matched its SHA-256. Exactly one `finished` or `failed` ends a download. */
export interface Finished {
  type: 'finished';
  download: string;
  sha256: string;
  size: number;
  from_peers: number;
  from_origin: number;
  /** Host, trusted groups: the host computed the digest and publishes it (the peer: false). */
  group_publish: boolean;
}

export interface Failed {
  type: 'failed';
  download: string;
  error: string;
  /** The end of a `cancel`: nothing to recover. */
  cancelled: boolean;
}

/** The events both backends send. */
export type BackendEvent = Progress | Finished | Failed;

// --- Requests (`request`) and their replies ---------------------------------------

/** Start a transfer; what each backend needs to know differs (see `HostStart`, `PeerStart`). */
export interface Start {
  type: 'start';
  url: string;
  filename?: string | null;
  sha256: string | null;
}

export interface Started {
  type: 'started';
  download: string;
  filename: string;
  size: number;
  sha256: string | null;
}

/** Stop a download and drop what it holds; a running one then ends with `failed` (`cancelled: true`). */
export interface Cancel {
  type: 'cancel';
  download: string;
}

export interface Cancelled {
  type: 'cancelled';
  download: string;
}

export interface StatusRequest {
  type: 'status';
}

export interface Status {
  type: 'status';
  /** The transfers the backend is running, each in its phase. */
  active: TransferState[];
  /** Contents being served to swarms. */
  seeding: number;
}

/** A request and its reply. */
export interface Call<Rq extends { type: string }, Rp> {
  request: Rq;
  reply: Rp;
}

/** The request and the reply of a `Call`. */
export type RequestOf<X> = X extends Call<infer Rq, unknown> ? Rq : never;
export type ReplyOf<X> = X extends Call<{ type: string }, infer Rp> ? Rp : never;

/** The requests both backends answer. */
export interface BackendCalls {
  start: Call<Start, Started>;
  cancel: Call<Cancel, Cancelled>;
  status: Call<StatusRequest, Status>;
}

// --- The interface ----------------------------------------------------------------

/**
 * A backend: `C` is what it answers (at least `BackendCalls`), `E` what it reports
 * (at least `BackendEvent`).
 */
export interface Backend<C extends BackendCalls = BackendCalls, E extends { type: string } = BackendEvent> {
  /**
   * Sends `message` and resolves to its reply; rejects with an Error (the host's
   * carries its error `code`). `timeoutMs`: how long to wait for the reply (the
   * host; the browser peer has no timeout).
   */
  request<T extends keyof C & string>(message: RequestOf<C[T]> & { type: T }, timeoutMs?: number): Promise<ReplyOf<C[T]>>;
  /** `listener` hears every event from now on. */
  onEvent(listener: (event: E) => void): void;
  offEvent(listener: (event: E) => void): void;
}

// --- The native host (lib/host.js; docs/native-messaging.md) ----------------------

export interface Hello {
  type: 'hello';
  version: string;
  protocol: number;
  /** The loopback delivery server's base URL. */
  delivery: string;
  config_error: string | null;
}

export interface PolicyPush {
  type: 'policy';
  /** Enterprise policy (`storage.managed`). */
  policy: object;
  /** The options page's settings. */
  settings?: object;
}

export interface PolicyReply {
  type: 'policy';
  ok: boolean;
  effective: Policy;
}

export interface Resolve {
  type: 'resolve';
  url: string;
  link?: string;
  headers: Header[];
  incognito: boolean;
  method: string;
}

export interface Resolved {
  type: 'resolved';
  eligible: boolean;
  reason: string | null;
  p2p: boolean;
  // Absent when the download was ruled out before anything was fetched:
  url?: string;
  size?: number;
  sha256?: string | null;
  digest_source?: DigestSource | null;
  why_not_p2p?: string | null;
  group_publish?: boolean;
  filename?: string;
  ranges?: boolean;
}

export interface HostStart extends Start {
  link?: string;
  headers: Header[];
}

export interface HostStarted extends Started {
  delivery_url: string;
  p2p: boolean;
  digest_source: DigestSource | null;
}

export interface HostActive extends TransferState {
  url: string;
  filename: string;
}

export interface HostStatus extends Status {
  active: HostActive[];
  partial: number;
  cached: number;
  cache_bytes: number;
  cache_max_bytes: number;
  items: { sha256: string; size: number; name: string }[];
}

export interface HostCalls extends BackendCalls {
  hello: Call<{ type: 'hello' }, Hello>;
  policy: Call<PolicyPush, PolicyReply>;
  resolve: Call<Resolve, Resolved>;
  start: Call<HostStart, HostStarted>;
  status: Call<StatusRequest, HostStatus>;
}

/** The link's own events: the host answered `hello`, or went away. */
export interface HostUp {
  type: 'host_up';
  hello: Hello;
}

export interface HostGone {
  type: 'host_gone';
  error: string;
}

export type HostEvent = BackendEvent | HostUp | HostGone;

// --- The browser-only peer (lib/browser_peer.js, peer/service.js) -----------------

/** What the wasm driver's `BrowserTransfer.stats()` says. */
export interface TransferStats extends Omit<TransferCounts, 'download'> {
  phase: 'downloading' | 'verifying' | 'seeding' | 'failed' | 'stopped';
  uploaded: number;
  wasted: number;
  /** Other peers the trackers count in the swarm; absent before any answered. */
  swarm_size?: number;
  banned: number;
  error?: string;
  info_hash: string;
  busy_ms: number;
}

/** What the wasm driver's probe of an origin learnt (absent: not known). */
export interface Probe {
  status: number;
  size?: number;
  sha256?: string;
  digest_source?: DigestSource;
  checksum_list?: string;
  digest_error?: string;
  /** Why no trusted digest was found (the core resolver's reason). */
  why_not_p2p?: string;
  ranges: boolean;
  etag?: string;
  last_modified?: string;
  content_type?: string;
}

export interface ProbeRequest {
  type: 'probe';
  url: string;
  /** The link the user clicked, before redirects: checksum lists are looked for beside it. */
  link?: string;
}

export interface PeerStart extends Start {
  sha256: string;
  size: number;
  etag?: string | null;
  ranges?: boolean;
  filename: string;
  content_type?: string | null;
  policy: Policy;
}

export interface PeerStarted extends Started {
  sha256: string;
  info_hash: string;
}

export interface PeerTransfer extends TransferStats {
  download: string;
}

/** A finished file the peer serves (kept across sessions when `kept`). */
export interface PeerSeed {
  download: string;
  sha256: string;
  filename: string;
  size: number;
  /** Bytes served to others, in this and earlier sessions. */
  uploaded: number;
  peers: number;
  kept: boolean;
  /** When it finished (ms since the epoch). */
  kept_at: number;
  phase: TransferStats['phase'];
}

export interface PeerStatus extends Status {
  /** Every transfer the peer holds, seeds (phase `seeding`) included. */
  active: PeerTransfer[];
  seeds: PeerSeed[];
  /** RTCPeerConnections this page has made (Chrome allows about 500 per document). */
  peer_connections: number;
  /** How many it may make before it is recycled; null: no limit watched (Firefox). */
  peer_connection_budget: number | null;
  /** The page's memory: its JS heap in use (Chromium only) and the wasm memory's size. */
  memory: { js_heap: number | null; wasm: number | null };
  storage: {
    /** Bytes of every file the peer holds (downloads and seeds). */
    cache_bytes: number;
    /** The extension's storage use and quota, as the browser estimates them. */
    used: number | null;
    quota: number | null;
  };
}

/** Seed what earlier sessions kept, within `policy` (and drop what it no longer allows). */
export interface Restore {
  type: 'restore';
  policy: Policy;
}

/** The browser's download of a finished file completed. */
export interface Delivered {
  type: 'delivered';
  download: string;
}

/** Stop sharing one seed and remove its file. */
export interface Unshare {
  type: 'unshare';
  download: string;
}

/** How many peer connections the page may make before it is recycled (Chromium). */
export interface Configure {
  type: 'configure';
  peer_connection_budget: number;
}

export interface PeerCalls extends BackendCalls {
  configure: Call<Configure, { type: 'configured'; peer_connections: number }>;
  probe: Call<ProbeRequest, Probe>;
  start: Call<PeerStart, PeerStarted>;
  status: Call<StatusRequest, PeerStatus>;
  restore: Call<Restore, PeerStatus>;
  delivered: Call<Delivered, Delivered>;
  unshare: Call<Unshare, PeerStatus>;
  clear_cache: Call<{ type: 'clear_cache' }, PeerStatus>;
  /** The storage worker's whole-file SHA-256 work so far (a diagnostic the
   *  benchmarks read): bytes hashed and the milliseconds it took. */
  hashing: Call<{ type: 'hashing' }, { type: 'hashing'; bytes: number; ms: number }>;
}

/** The peer's `progress` carries all of `TransferStats`. */
export type PeerProgress = Progress & TransferStats;

/** The verified file, to be handed to the browser's downloads. */
export interface PeerFinished extends Finished {
  /** An OPFS-backed blob: URL of the file. */
  blob_url: string;
  filename: string;
}

/** A change of a transfer's phase, open peers or swarm size, as it happens. */
export interface Swarm {
  type: 'swarm';
  download: string;
  phase: TransferStats['phase'];
  peers: number;
  from_peers: number;
  from_origin: number;
  swarm_size: number | null;
  error: string | null;
}

/** How many finished files are kept for later sessions (after each change). */
export interface Kept {
  type: 'kept';
  download: '';
  kept: number;
}

/** The page spent most of its peer-connection budget and can be replaced losing nothing. */
export interface Recycle {
  type: 'recycle';
  download: '';
  made: number;
}

export type PeerEvent = PeerProgress | PeerFinished | Failed | Swarm | Kept | Recycle;
