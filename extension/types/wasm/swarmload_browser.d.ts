// The wasm core's browser package as the extension imports it (`wasm/`, built by
// wasm-bindgen from extension/wasm-driver at build time; its generated .d.ts types
// results as `any`): the exports the extension uses, with what they return.
// tsconfig.json's `rootDirs` maps `wasm/swarmload_browser.js` here.

import type { Policy, Probe, TransferStats } from '../../lib/backend.js';

/** Loads the wasm module; every other export needs it done. Resolves to its exports. */
export default function init(): Promise<{ memory: WebAssembly.Memory }>;

/** What `BrowserTransfer`'s storage is given: blocks written and read back at their offset. */
export interface TransferStorage {
  write(offset: number, data: Uint8Array): void;
  read(offset: number, len: number): Promise<Uint8Array>;
  /** Optional: a promise while too many writes wait (origin bodies are not read meanwhile). */
  room?(): Promise<void> | undefined;
  /** Optional: the bytes below `upto` are final (to be hashed as they come). */
  hashTo?(upto: number): void;
  hashReset?(): void;
  /** Optional: the SHA-256 of the first `size` bytes; without, the page hashes the file itself. */
  digest?(size: number): Promise<Uint8Array>;
}

/** Incremental SHA-256 (the storage worker's whole-file check). */
export class WasmSha256 {
  constructor();
  update(chunk: Uint8Array): void;
  finish(): Uint8Array;
  free(): void;
}

/** One download in the browser, then its seeding while the page lives. */
export class BrowserTransfer {
  constructor(
    options: { url: string; sha256: string; size: number; etag?: string; ranges: boolean },
    policy_json: string,
    storage: TransferStorage,
  );
  /** Seeds a kept file: no origin; every block is checked against `leaves` as it is served. */
  static seed(options: { sha256: string; size: number }, policy_json: string, storage: TransferStorage, leaves: Uint8Array): BrowserTransfer;
  /** The leaf layer (32 bytes a block) once complete and verified. */
  leaves(): Uint8Array | undefined;
  start(): void;
  /** Resolves once complete and verified; rejects when it failed or was stopped. */
  done(): Promise<unknown>;
  stats(): TransferStats;
  set_on_change(listener: () => void): void;
  stop(): void;
  fail(reason: string): void;
  free(): void;
}

/** Peer connections this page has made (Chrome allows about 500 per document). */
export function peer_connections_made(): number;
/** How many this page may make in its lifetime. */
export function set_peer_connection_budget(n: number): void;
export function probe_origin(url: string, link?: string | null): Promise<Probe>;
export function resolve_policy_layers(layers_json: string): Policy;
export function ineligible_reason(
  policy_json: string,
  url: string,
  header_names: string[],
  incognito: boolean,
  method?: string | null,
): string | undefined;
export function trusted_digest(
  repr_digest: string | null | undefined,
  unencoded_digest: string | null | undefined,
  digest: string | null | undefined,
  content_encoding: string | null | undefined,
  url: string,
): string | undefined;
