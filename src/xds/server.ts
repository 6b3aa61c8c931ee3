// The ADS server: Envoy's AggregatedDiscoveryService (State of the World and Delta) on a grpc.Server
// the caller owns, serving per-node snapshots from a SnapshotCache. No mesh logic: what a node
// receives is whatever the control plane put in its snapshot.
//
// Protocol rules implemented (Envoy "xDS REST and gRPC protocol"):
// - Per stream, per type URL state: subscription (wildcard or names), last sent version and nonce,
//   last ACKed version, last NACK.
// - A request whose response_nonce is not the latest nonce sent for that type is stale: its ACK/NACK
//   is ignored (SotW ignores the whole request; delta still applies its subscription changes).
// - ACK = request carrying the latest nonce and no error_detail; NACK = same with error_detail.
//   A NACKed version is never resent on that stream: the type is pushed again only when the
//   snapshot's version changes (or, in SotW, when the client subscribes to new names).
// - Wildcard: LDS and CDS whose first request names no resources, or any type naming "*".
//   RDS/EDS/SDS are named. Resources are sent only for types the client has subscribed to.
// - Delta: per-resource versions are content hashes (resources.ts contentVersion);
//   initial_resource_versions seeds what the client holds so a reconnect resends only what changed;
//   removed_resources carries deletions and subscribed names that do not exist.
//
// Flow control: at most one response per type is in flight on a stream; newer versions wait for
// its ACK/NACK and coalesce (the client then receives only the latest).
//
// Ordering (make before break, as Envoy recommends): within a stream types are pushed in the order
// SDS, CDS, EDS, LDS, RDS, then any other type; a type is held back while an earlier type has a
// response the client has not yet ACKed or NACKed. So a client never receives a route update before
// it has accepted the clusters (and their endpoints) pushed with the same snapshot. In SotW, a CDS
// push that drops clusters is itself a removal; the control plane should keep a removed cluster in
// the snapshot for one more version if routes still point at it (the weft client additionally
// never applies a route naming a cluster it does not have).
import * as grpc from '@grpc/grpc-js';
import { logger } from '../core/logger.ts';
import { WeftError } from '../core/errors.ts';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, SECRET_TYPE_URL, contentVersion, type XdsAny } from './resources.ts';
import {
  adsServerDefinition,
  encodeDeltaDiscoveryResponse,
  encodeDiscoveryResponse,
  type DeltaDiscoveryRequest__Output,
  type SotwRequest,
} from './wire.ts';
import { nodeInfoFrom, spiffeIdFromSubjectAltName, type NodeInfo } from './node.ts';

const log = logger('xds.server');

/** The resources of one type in a node's snapshot; `version` changes whenever any item changes. */
export interface TypeSnapshot {
  readonly version: string;
  readonly items: ReadonlyMap<string, XdsAny>;
}

/** Everything one node (or group of nodes sharing a key) should have, keyed by type URL. */
export interface XdsSnapshot {
  readonly resources: Readonly<Record<string, TypeSnapshot | undefined>>;
}

/** Push order: earlier types are ACKed before later ones are sent (make before break). */
export const PUSH_ORDER: readonly string[] = [SECRET_TYPE_URL, CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL];
const WILDCARD_TYPES = new Set([LISTENER_TYPE_URL, CLUSTER_TYPE_URL]);

function orderOf(typeUrl: string): number {
  const i = PUSH_ORDER.indexOf(typeUrl);
  return i < 0 ? PUSH_ORDER.length : i;
}

/** When each TypeSnapshot object was first given to a cache (for push-to-ACK latency). */
const firstSetAt = new WeakMap<TypeSnapshot, number>();

/** Milliseconds from the moment `ts` entered a cache until now, if known. */
function sinceSet(ts: TypeSnapshot | undefined): number | undefined {
  const at = ts === undefined ? undefined : firstSetAt.get(ts);
  return at === undefined ? undefined : performance.now() - at;
}

/**
 * Holds the latest snapshot per key (by default the node id) and tells the streams of that key when
 * it changes. Setting a snapshot whose type versions are unchanged pushes nothing; changing only
 * the EDS version pushes only EDS.
 */
export class SnapshotCache {
  readonly #snapshots = new Map<string, XdsSnapshot>();
  readonly #listeners = new Map<string, Set<() => void>>();

  setSnapshot(key: string, snapshot: XdsSnapshot): void {
    const now = performance.now();
    for (const ts of Object.values(snapshot.resources)) if (ts !== undefined && !firstSetAt.has(ts)) firstSetAt.set(ts, now);
    this.#snapshots.set(key, snapshot);
    this.#notify(key);
  }

  /** Replaces one type of a key's snapshot, keeping the others. */
  setType(key: string, typeUrl: string, resources: TypeSnapshot): void {
    const prev = this.#snapshots.get(key);
    this.setSnapshot(key, { resources: { ...(prev?.resources ?? {}), [typeUrl]: resources } });
  }

  getSnapshot(key: string): XdsSnapshot | undefined {
    return this.#snapshots.get(key);
  }

  deleteSnapshot(key: string): void {
    this.#snapshots.delete(key);
  }

  keys(): IterableIterator<string> {
    return this.#snapshots.keys();
  }

  /** Streams call this to hear about changes to their key. */
  watch(key: string, listener: () => void): () => void {
    let set = this.#listeners.get(key);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(key, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#listeners.get(key) === set) this.#listeners.delete(key);
    };
  }

  #notify(key: string): void {
    const set = this.#listeners.get(key);
    if (set === undefined) return;
    for (const listener of [...set]) listener();
  }
}

/** Helper for building a TypeSnapshot from a list of (name, Any). */
export function typeSnapshot(version: string, items: Iterable<readonly [string, XdsAny]>): TypeSnapshot {
  return { version, items: new Map(items) };
}

export interface AdsStreamInfo {
  /** Unique per server process. */
  readonly id: number;
  readonly mode: 'sotw' | 'delta';
  readonly node: NodeInfo;
  /** Remote address as grpc-js reports it. */
  readonly peer: string;
  /** SPIFFE ID of the client certificate when the transport is mTLS. */
  readonly spiffeId: string | undefined;
  /** SHA-256 fingerprint (colon-separated hex, as node:tls prints it) of the client certificate. */
  readonly peerFingerprint: string | undefined;
  readonly openedAt: number;
}

export interface AdsNack {
  readonly typeUrl: string;
  /** The version the client refused. */
  readonly rejectedVersion: string;
  readonly nonce: string;
  /** google.rpc.Status code and message from the client's error_detail. */
  readonly code: number;
  readonly message: string;
  /** For delta: the resources of the refused response. */
  readonly resourceNames?: readonly string[];
  readonly at: number;
}

export interface AdsTypeStatus {
  readonly subscribed: '*' | readonly string[];
  readonly sentVersion: string | undefined;
  readonly sentNonce: string | undefined;
  readonly ackedVersion: string | undefined;
  readonly ackedAt: number | undefined;
  /** True when a response is in flight (sent, not yet ACKed or NACKed). */
  readonly pending: boolean;
  readonly lastNack: AdsNack | undefined;
}

export interface AdsStreamStatus extends AdsStreamInfo {
  readonly key: string;
  readonly types: Readonly<Record<string, AdsTypeStatus>>;
}

export interface AdsPush {
  readonly typeUrl: string;
  readonly version: string;
  readonly nonce: string;
  readonly resources: number;
  readonly removed: number;
  readonly bytes: number;
}

/** Hooks for the control plane; all optional, all synchronous. Exceptions thrown by hooks are logged, except `authorize`. */
export interface AdsHooks {
  /** Refuse a stream by throwing (e.g. node id does not match the certificate); the stream ends with PERMISSION_DENIED. */
  authorize?(info: AdsStreamInfo): void;
  /** The snapshot key for a stream; default `info.node.id`. */
  nodeKey?(info: AdsStreamInfo): string;
  onStreamOpen?(info: AdsStreamInfo): void;
  onStreamClose?(info: AdsStreamInfo, reason: string): void;
  onPush?(info: AdsStreamInfo, push: AdsPush): void;
  /** `latencyMs`: from the moment the ACKed type snapshot was set in the cache until this ACK (push latency). */
  onAck?(info: AdsStreamInfo, ack: { typeUrl: string; version: string; nonce: string; latencyMs: number | undefined }): void;
  onNack?(info: AdsStreamInfo, nack: AdsNack): void;
}

export interface AdsServerOptions {
  /** `control_plane.identifier` in every response. */
  controlPlaneId?: string;
}

export interface AdsCounters {
  streamsOpened: number;
  streamsClosed: number;
  requests: number;
  pushes: number;
  resourcesSent: number;
  bytesSent: number;
  acks: number;
  nacks: number;
}

export interface AdsServer {
  readonly cache: SnapshotCache;
  readonly counters: Readonly<AdsCounters>;
  /** Connected streams with their per-type state (admin API). */
  streams(): AdsStreamStatus[];
  /** Ends every open stream (e.g. on shutdown) with UNAVAILABLE so clients reconnect elsewhere. */
  closeAll(): void;
  /** Ends one stream (by `AdsStreamInfo.id`) with UNAVAILABLE, e.g. after its certificate was revoked. False if not open. */
  disconnect(streamId: number, reason: string): boolean;
}

/** A convenience for `authorize` hooks: throw it (or any Error) to refuse a stream with PERMISSION_DENIED. */
export class AdsStreamRefusedError extends WeftError {
  constructor(message: string, cause?: unknown) {
    super('XDS_STREAM_REFUSED', message, { cause });
  }
}

type AnyCall = grpc.ServerDuplexStream<unknown, Buffer>;

interface StreamContext {
  readonly server: AdsServerImpl;
  readonly call: AnyCall;
  readonly id: number;
}

function peerIdentity(call: AnyCall): { spiffeId: string | undefined; fingerprint: string | undefined } {
  try {
    const cert = call.getAuthContext?.()?.sslPeerCertificate as { subjectaltname?: string; fingerprint256?: string } | undefined;
    return { spiffeId: spiffeIdFromSubjectAltName(cert?.subjectaltname), fingerprint: cert?.fingerprint256 || undefined };
  } catch {
    return { spiffeId: undefined, fingerprint: undefined };
  }
}

abstract class StreamBase {
  info: AdsStreamInfo | undefined;
  key = '';
  closed = false;
  #unwatch: (() => void) | undefined;
  #flushScheduled = false;
  nonceCounter = 0;

  constructor(
    readonly ctx: StreamContext,
    readonly mode: 'sotw' | 'delta',
  ) {
    ctx.call.on('data', (req: unknown) => this.#onData(req));
    ctx.call.on('end', () => this.close('client ended the stream'));
    ctx.call.on('error', (e: Error & { details?: string }) => this.close(`stream error: ${e.details ?? e.message}`));
    ctx.call.on('cancelled', () => this.close('cancelled'));
    ctx.call.on('close', () => this.close('closed'));
  }

  get server(): AdsServerImpl {
    return this.ctx.server;
  }

  #onData(req: unknown): void {
    if (this.closed) return;
    this.server.counters.requests++;
    try {
      if (this.info === undefined && !this.open(req)) return;
      this.handle(req);
      this.flush();
    } catch (error) {
      log.error({ err: error, stream: this.ctx.id }, 'ADS request handling failed');
      this.fail(grpc.status.INTERNAL, `request handling failed: ${(error as Error).message}`);
    }
  }

  /** First request: read the node, authorize, subscribe to the cache. */
  open(req: unknown): boolean {
    const node = (req as { node?: Parameters<typeof nodeInfoFrom>[0] }).node;
    const peer = peerIdentity(this.ctx.call);
    const info: AdsStreamInfo = Object.freeze({
      id: this.ctx.id,
      mode: this.mode,
      node: nodeInfoFrom(node),
      peer: this.ctx.call.getPeer(),
      spiffeId: peer.spiffeId,
      peerFingerprint: peer.fingerprint,
      openedAt: Date.now(),
    });
    const hooks = this.server.hooks;
    try {
      hooks.authorize?.(info);
    } catch (error) {
      log.warn({ stream: info.id, node: info.node.id, spiffeId: info.spiffeId, reason: (error as Error).message }, 'ADS stream refused');
      this.fail(grpc.status.PERMISSION_DENIED, `refused: ${(error as Error).message}`);
      return false;
    }
    this.info = info;
    // Headers now, so the client knows the stream was accepted even before the first response.
    this.ctx.call.sendMetadata(new grpc.Metadata());
    this.key = hooks.nodeKey ? hooks.nodeKey(info) : info.node.id;
    this.server.open(this);
    this.#unwatch = this.server.cache.watch(this.key, () => this.scheduleFlush());
    this.server.hook('onStreamOpen', info);
    return true;
  }

  scheduleFlush(): void {
    if (this.#flushScheduled || this.closed) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      if (this.closed) return;
      try {
        this.flush();
      } catch (error) {
        log.error({ err: error, stream: this.ctx.id }, 'ADS push failed');
        this.fail(grpc.status.INTERNAL, `push failed: ${(error as Error).message}`);
      }
    });
  }

  snapshot(): XdsSnapshot | undefined {
    return this.server.cache.getSnapshot(this.key);
  }

  nextNonce(): string {
    return `${this.ctx.id}.${++this.nonceCounter}`;
  }

  send(bytes: Buffer, push: AdsPush): void {
    const c = this.server.counters;
    c.pushes++;
    c.resourcesSent += push.resources;
    c.bytesSent += bytes.length;
    this.ctx.call.write(bytes);
    if (this.info) this.server.hook('onPush', this.info, push);
  }

  fail(code: grpc.status, details: string): void {
    if (this.closed) return;
    try {
      this.ctx.call.emit('error', { code, details, metadata: new grpc.Metadata() } as grpc.StatusObject);
    } catch {
      // the call may already be gone
    }
    this.close(details);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.#unwatch?.();
    if (this.info !== undefined) {
      this.server.closeStream(this);
      this.server.hook('onStreamClose', this.info, reason);
    }
    try {
      this.ctx.call.end();
    } catch {
      // already ended
    }
  }

  /**
   * True while a type later in PUSH_ORDER than `typeUrl` is subscribed and either has a response in
   * flight or has a snapshot version not yet sent: removals of `typeUrl` must wait (a route or
   * listener may still refer to what would be removed).
   */
  laterTypesUnsettled(typeUrl: string, snapshot: XdsSnapshot): boolean {
    const mine = orderOf(typeUrl);
    for (const [other, st] of this.typeStates()) {
      if (orderOf(other) <= mine || !st.subscribed) continue;
      if (st.pending) return true;
      const ts = snapshot.resources[other];
      if (ts !== undefined && ts.version !== st.sentVersion && ts.version !== st.nackedVersion) return true;
    }
    return false;
  }

  abstract typeStates(): Iterable<[string, { subscribed: boolean; pending: boolean; sentVersion: string | undefined; nackedVersion: string | undefined }]>;
  abstract handle(req: unknown): void;
  abstract flush(): void;
  abstract status(): Record<string, AdsTypeStatus>;
}

// ---------------------------------------------------------------------------------------------
// Snapshot diffs, computed once per (old, new) pair of TypeSnapshots and shared by every stream
// that moves between them, so a change to one resource costs O(changed) per stream, not O(all).

interface SnapshotDiff {
  /** Names present in the new snapshot whose resource differs (or is new). */
  readonly changed: readonly string[];
  /** Names present in the old snapshot and absent from the new one. */
  readonly removed: readonly string[];
}

const diffCache = new WeakMap<TypeSnapshot, WeakMap<TypeSnapshot, SnapshotDiff>>();

function sameResource(a: XdsAny | undefined, b: XdsAny): boolean {
  return a === b || (a !== undefined && contentVersion(a) === contentVersion(b));
}

export function diffTypeSnapshots(from: TypeSnapshot, to: TypeSnapshot): SnapshotDiff {
  let inner = diffCache.get(from);
  if (inner === undefined) {
    inner = new WeakMap();
    diffCache.set(from, inner);
  }
  let d = inner.get(to);
  if (d === undefined) {
    const changed: string[] = [];
    const removed: string[] = [];
    for (const [name, any] of to.items) if (!sameResource(from.items.get(name), any)) changed.push(name);
    for (const name of from.items.keys()) if (!to.items.has(name)) removed.push(name);
    d = { changed, removed };
    inner.set(to, d);
  }
  return d;
}

/** Types whose SotW responses must carry every subscribed resource (omission means deletion). */
const FULL_STATE_TYPES = new Set([LISTENER_TYPE_URL, CLUSTER_TYPE_URL]);
/** Types whose removals wait for later types to settle. */
function removalsWait(typeUrl: string): boolean {
  return orderOf(typeUrl) < orderOf(LISTENER_TYPE_URL);
}

// ---------------------------------------------------------------------------------------------
// State of the World

interface SotwTypeState {
  subscribed: boolean;
  wildcard: boolean;
  names: Set<string>;
  everNamed: boolean;
  /** The client asked for something it has not been answered yet (new stream, new names). */
  needsResponse: boolean;
  /** Names subscribed since the last response (sent in full even in an incremental response). */
  addedNames: Set<string>;
  sentVersion: string | undefined;
  sentNonce: string | undefined;
  pending: boolean;
  ackedVersion: string | undefined;
  ackedAt: number | undefined;
  nackedVersion: string | undefined;
  lastNack: AdsNack | undefined;
  /** Full-state types: the snapshot the last complete response was built from (shared, not copied). */
  sentFrom: TypeSnapshot | undefined;
  /** Snapshot of the response in flight, and of the last ACKed one (the base of incremental responses). */
  inflightFrom: TypeSnapshot | undefined;
  ackedFrom: TypeSnapshot | undefined;
  /** The last response kept resources the snapshot dropped; send the real set once later types settle. */
  retaining: boolean;
  /** Raw resource_names bytes of the previous request. */
  namesKey: Buffer | undefined;
}

class SotwStream extends StreamBase {
  readonly types = new Map<string, SotwTypeState>();

  constructor(ctx: StreamContext) {
    super(ctx, 'sotw');
  }

  #state(typeUrl: string): SotwTypeState {
    let st = this.types.get(typeUrl);
    if (st === undefined) {
      st = {
        subscribed: false,
        wildcard: false,
        names: new Set(),
        everNamed: false,
        needsResponse: false,
        addedNames: new Set(),
        sentVersion: undefined,
        sentNonce: undefined,
        pending: false,
        ackedVersion: undefined,
        ackedAt: undefined,
        nackedVersion: undefined,
        lastNack: undefined,
        sentFrom: undefined,
        inflightFrom: undefined,
        ackedFrom: undefined,
        retaining: false,
        namesKey: undefined,
      };
      this.types.set(typeUrl, st);
    }
    return st;
  }

  typeStates(): Iterable<[string, SotwTypeState]> {
    return this.types;
  }

  handle(raw: unknown): void {
    const req = raw as SotwRequest;
    const typeUrl = req.type_url;
    if (!typeUrl) {
      log.warn({ stream: this.ctx.id }, 'ADS request without type_url ignored');
      return;
    }
    const st = this.#state(typeUrl);
    const info = this.info!;
    if (req.response_nonce) {
      if (req.response_nonce !== st.sentNonce) return; // stale: the client will catch up with the latest response
      st.pending = false;
      if (req.error_detail) {
        const nack: AdsNack = {
          typeUrl,
          rejectedVersion: st.sentVersion ?? '',
          nonce: req.response_nonce,
          code: req.error_detail.code,
          message: req.error_detail.message,
          at: Date.now(),
        };
        st.nackedVersion = st.sentVersion;
        st.lastNack = nack;
        this.server.counters.nacks++;
        log.warn({ node: info.node.id, spiffeId: info.spiffeId, typeUrl, version: nack.rejectedVersion, error: nack.message }, 'xDS NACK');
        this.server.hook('onNack', info, nack);
      } else {
        st.ackedVersion = req.version_info;
        st.ackedAt = Date.now();
        st.ackedFrom = st.inflightFrom;
        this.server.counters.acks++;
        this.server.hook('onAck', info, { typeUrl, version: req.version_info, nonce: req.response_nonce, latencyMs: sinceSet(st.inflightFrom) });
      }
    }
    // Same names as this type's previous request (the common ACK): nothing to re-read.
    if (st.subscribed && st.namesKey !== undefined && req.namesKey.equals(st.namesKey)) {
      if (!req.response_nonce) {
        st.needsResponse = true;
        st.addedNames = new Set(st.names);
      }
      return;
    }
    st.namesKey = req.namesKey.length > 0 ? Buffer.from(req.namesKey) : req.namesKey;
    const names = req.resource_names;
    const explicitWildcard = names.includes('*');
    if (names.length > 0 && !explicitWildcard) st.everNamed = true;
    const wildcard = explicitWildcard || (names.length === 0 && !st.everNamed && WILDCARD_TYPES.has(typeUrl));
    let added = !st.subscribed || (wildcard && !st.wildcard) || !req.response_nonce; // a request without nonce always gets an answer
    let same = names.length - (explicitWildcard ? 1 : 0) === st.names.size;
    for (const n of names) {
      if (n === '*' || st.names.has(n)) continue;
      same = false;
      added = true;
      st.addedNames.add(n);
    }
    if (!same) st.names = new Set(names.filter((n) => n !== '*'));
    if (!st.subscribed || !req.response_nonce) st.addedNames = new Set(st.names);
    st.subscribed = true;
    st.wildcard = wildcard;
    if (added) st.needsResponse = true;
  }

  flush(): void {
    const snapshot = this.snapshot();
    if (snapshot === undefined) return;
    const typeUrls = [...this.types.keys()].sort((a, b) => orderOf(a) - orderOf(b));
    for (const typeUrl of typeUrls) {
      const st = this.types.get(typeUrl)!;
      if (!st.subscribed) continue;
      // One response in flight per type: later versions wait for the ACK/NACK and coalesce, so a
      // slow or stuck client costs one response of memory, not one per push.
      if (st.pending) continue;
      const ts = snapshot.resources[typeUrl];
      if (ts === undefined) continue;
      const fullState = FULL_STATE_TYPES.has(typeUrl);
      const changed = ts.version !== st.sentVersion;
      const unsettled = fullState && removalsWait(typeUrl) && this.laterTypesUnsettled(typeUrl, snapshot);
      const release = st.retaining && !unsettled && !st.pending;
      if (!changed && !st.needsResponse && !release) continue;
      if (changed && !st.needsResponse && ts.version === st.nackedVersion) continue;
      if (this.#blockedByEarlier(typeUrl)) continue;
      const resources: XdsAny[] = [];
      let retained = false;
      if (fullState) {
        const included = new Set<string>();
        const add = (name: string, any: XdsAny): void => {
          included.add(name);
          resources.push(any);
        };
        if (st.wildcard) for (const [name, any] of ts.items) add(name, any);
        else
          for (const name of st.names) {
            const any = ts.items.get(name);
            if (any !== undefined) add(name, any);
          }
        // Make before break: resources the client has that the snapshot dropped stay in this
        // response while listeners/routes that may still use them are not updated and ACKed.
        if (unsettled && st.sentFrom !== undefined && st.sentFrom !== ts) {
          for (const [name, any] of st.sentFrom.items) {
            if (included.has(name) || ts.items.has(name)) continue;
            if (!st.wildcard && !st.names.has(name)) continue;
            add(name, any);
            retained = true;
          }
        }
      } else {
        // RDS, EDS, SDS…: omission is not deletion, so send only what changed since the last ACKed
        // response, plus names subscribed since (Istio's incremental EDS over SotW).
        const base = st.ackedFrom;
        const wants = (name: string): boolean => st.wildcard || st.names.has(name);
        if (base === undefined) {
          if (st.wildcard) for (const any of ts.items.values()) resources.push(any);
          else
            for (const name of st.names) {
              const any = ts.items.get(name);
              if (any !== undefined) resources.push(any);
            }
        } else {
          const seen = new Set<string>();
          if (base !== ts) {
            for (const name of diffTypeSnapshots(base, ts).changed) {
              if (!wants(name)) continue;
              seen.add(name);
              resources.push(ts.items.get(name)!);
            }
          }
          for (const name of st.addedNames) {
            const any = ts.items.get(name);
            if (any !== undefined && !seen.has(name) && wants(name)) resources.push(any);
          }
        }
        if (!st.wildcard && st.names.size === 0) {
          st.needsResponse = false;
          st.sentVersion = ts.version; // subscribed to nothing: trivially up to date
          continue;
        }
      }
      const nonce = this.nextNonce();
      const bytes = encodeDiscoveryResponse({ versionInfo: ts.version, typeUrl, nonce, resources, controlPlaneId: this.server.options.controlPlaneId });
      st.sentVersion = ts.version;
      st.sentNonce = nonce;
      st.pending = true;
      st.needsResponse = false;
      st.addedNames.clear();
      st.retaining = retained;
      st.inflightFrom = ts;
      if (!retained) st.sentFrom = ts;
      this.send(bytes, { typeUrl, version: ts.version, nonce, resources: resources.length, removed: 0, bytes: bytes.length });
    }
  }

  #blockedByEarlier(typeUrl: string): boolean {
    const mine = orderOf(typeUrl);
    for (const [other, st] of this.types) if (st.pending && orderOf(other) < mine) return true;
    return false;
  }

  status(): Record<string, AdsTypeStatus> {
    const out: Record<string, AdsTypeStatus> = {};
    for (const [typeUrl, st] of this.types) {
      out[typeUrl] = {
        subscribed: st.wildcard ? '*' : [...st.names],
        sentVersion: st.sentVersion,
        sentNonce: st.sentNonce,
        ackedVersion: st.ackedVersion,
        ackedAt: st.ackedAt,
        pending: st.pending,
        lastNack: st.lastNack,
      };
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Delta (incremental)

interface InFlight {
  systemVersion: string;
  from: TypeSnapshot;
  /** name → what the client held before this response (undefined: nothing). */
  previous: Map<string, string | undefined>;
  /** name → version sent (undefined: removal). */
  sent: Map<string, string | undefined>;
}

interface DeltaTypeState {
  subscribed: boolean;
  wildcard: boolean;
  names: Set<string>;
  clientHas: Map<string, string>;
  /** Resources (name → version) of the last NACKed response; not resent while the snapshot keeps `nackedFrom.version`. */
  nacked: Map<string, string>;
  nackedFrom: TypeSnapshot | undefined;
  announcedMissing: Set<string>;
  inFlight: Map<string, InFlight>;
  sentVersion: string | undefined;
  sentNonce: string | undefined;
  ackedVersion: string | undefined;
  ackedAt: number | undefined;
  nackedVersion: string | undefined;
  lastNack: AdsNack | undefined;
  /** Removals held back until later types settle (make before break). */
  retaining: boolean;
  /** The snapshot fully reconciled against the client's state, unless `dirty` (subscription change, NACK). */
  evaluatedFrom: TypeSnapshot | undefined;
  dirty: boolean;
}

class DeltaStream extends StreamBase {
  readonly types = new Map<string, DeltaTypeState>();

  constructor(ctx: StreamContext) {
    super(ctx, 'delta');
  }

  #state(typeUrl: string): DeltaTypeState {
    let st = this.types.get(typeUrl);
    if (st === undefined) {
      st = {
        subscribed: false,
        wildcard: false,
        names: new Set(),
        clientHas: new Map(),
        nacked: new Map(),
        nackedFrom: undefined,
        announcedMissing: new Set(),
        inFlight: new Map(),
        sentVersion: undefined,
        sentNonce: undefined,
        ackedVersion: undefined,
        ackedAt: undefined,
        nackedVersion: undefined,
        lastNack: undefined,
        retaining: false,
        evaluatedFrom: undefined,
        dirty: true,
      };
      this.types.set(typeUrl, st);
    }
    return st;
  }

  typeStates(): Iterable<[string, { subscribed: boolean; pending: boolean; sentVersion: string | undefined; nackedVersion: string | undefined }]> {
    const out: Array<[string, { subscribed: boolean; pending: boolean; sentVersion: string | undefined; nackedVersion: string | undefined }]> = [];
    for (const [t, st] of this.types) out.push([t, { subscribed: st.subscribed, pending: st.inFlight.size > 0, sentVersion: st.sentVersion, nackedVersion: st.nackedVersion }]);
    return out;
  }

  handle(raw: unknown): void {
    const req = raw as DeltaDiscoveryRequest__Output;
    const typeUrl = req.type_url;
    if (!typeUrl) {
      log.warn({ stream: this.ctx.id }, 'delta ADS request without type_url ignored');
      return;
    }
    const info = this.info!;
    const first = !this.types.has(typeUrl);
    const st = this.#state(typeUrl);
    if (first) {
      for (const [name, version] of Object.entries(req.initial_resource_versions ?? {})) st.clientHas.set(name, version);
    }
    if (req.response_nonce) {
      const flight = st.inFlight.get(req.response_nonce);
      if (flight !== undefined) {
        st.inFlight.delete(req.response_nonce);
        if (req.error_detail) {
          // Roll back what we believed the client holds and remember what it refused.
          for (const [name, prev] of flight.previous) {
            if (prev === undefined) st.clientHas.delete(name);
            else st.clientHas.set(name, prev);
          }
          st.nacked.clear();
          for (const [name, v] of flight.sent) if (v !== undefined) st.nacked.set(name, v);
          st.nackedFrom = flight.from;
          const nack: AdsNack = {
            typeUrl,
            rejectedVersion: flight.systemVersion,
            nonce: req.response_nonce,
            code: req.error_detail.code,
            message: req.error_detail.message,
            resourceNames: [...flight.sent.keys()],
            at: Date.now(),
          };
          st.lastNack = nack;
          st.nackedVersion = flight.systemVersion;
          st.dirty = true;
          this.server.counters.nacks++;
          log.warn({ node: info.node.id, spiffeId: info.spiffeId, typeUrl, version: nack.rejectedVersion, error: nack.message }, 'xDS NACK (delta)');
          this.server.hook('onNack', info, nack);
        } else {
          for (const name of flight.sent.keys()) st.nacked.delete(name);
          st.ackedVersion = flight.systemVersion;
          st.ackedAt = Date.now();
          this.server.counters.acks++;
          this.server.hook('onAck', info, { typeUrl, version: flight.systemVersion, nonce: req.response_nonce, latencyMs: sinceSet(flight.from) });
        }
      }
    }
    const subscribe = req.resource_names_subscribe ?? [];
    const unsubscribe = req.resource_names_unsubscribe ?? [];
    if (subscribe.length > 0 || unsubscribe.length > 0) st.dirty = true;
    if (first && subscribe.length === 0 && WILDCARD_TYPES.has(typeUrl)) st.wildcard = true;
    for (const name of subscribe) {
      if (name === '*') st.wildcard = true;
      else st.names.add(name);
      st.announcedMissing.delete(name);
    }
    for (const name of unsubscribe) {
      if (name === '*') {
        st.wildcard = false;
        continue;
      }
      st.names.delete(name);
      st.announcedMissing.delete(name);
      if (!st.wildcard) {
        st.clientHas.delete(name);
        st.nacked.delete(name);
      }
    }
    st.subscribed = true;
  }

  flush(): void {
    const snapshot = this.snapshot();
    if (snapshot === undefined) return;
    const typeUrls = [...this.types.keys()].sort((a, b) => orderOf(a) - orderOf(b));
    for (const typeUrl of typeUrls) {
      const st = this.types.get(typeUrl)!;
      if (!st.subscribed) continue;
      if (st.inFlight.size > 0) continue; // one response in flight per type (see SotW)
      const ts = snapshot.resources[typeUrl];
      if (ts === undefined) continue;
      if (!st.dirty && !st.retaining && st.evaluatedFrom === ts) continue; // nothing new for this type
      if (st.nackedFrom !== undefined && ts.version !== st.nackedFrom.version) {
        // A newer version arrived after a NACK: everything the client does not hold goes out again,
        // including resources of the refused response that did not change since.
        st.nacked.clear();
        st.nackedFrom = undefined;
        st.dirty = true;
      }
      if (this.#blockedByEarlier(typeUrl)) continue;
      const resources: Array<{ name: string; version: string; resource: XdsAny }> = [];
      const removed: string[] = [];
      const wants = (name: string): boolean => st.wildcard || st.names.has(name);
      const consider = (name: string): void => {
        const any = ts.items.get(name);
        if (any === undefined) return;
        const v = contentVersion(any);
        if (st.clientHas.get(name) === v || st.nacked.get(name) === v) return;
        resources.push({ name, version: v, resource: any });
      };
      // Make before break: removals wait while listeners/routes that may use them are not settled.
      const unsettled = removalsWait(typeUrl) && this.laterTypesUnsettled(typeUrl, snapshot);
      const incremental = !st.dirty && !st.retaining && st.evaluatedFrom !== undefined;
      st.retaining = false;
      const remove = (name: string): void => {
        if (unsettled) st.retaining = true;
        else removed.push(name);
      };
      if (incremental) {
        // Only what changed between the snapshot last reconciled and this one can need sending.
        const d = diffTypeSnapshots(st.evaluatedFrom!, ts);
        for (const name of d.changed) if (wants(name)) consider(name);
        for (const name of d.removed) {
          if (!wants(name)) continue;
          if (st.clientHas.has(name)) remove(name);
          else if (st.names.has(name) && !st.announcedMissing.has(name)) {
            removed.push(name);
            st.announcedMissing.add(name);
          }
        }
      } else {
        if (st.wildcard) for (const name of ts.items.keys()) consider(name);
        for (const name of st.names) if (!st.wildcard || !ts.items.has(name)) consider(name);
        for (const name of st.clientHas.keys()) if (!ts.items.has(name) && wants(name)) remove(name);
        for (const name of st.names) {
          if (!ts.items.has(name) && !st.clientHas.has(name) && !st.announcedMissing.has(name)) {
            removed.push(name);
            st.announcedMissing.add(name);
          }
        }
      }
      st.evaluatedFrom = ts;
      st.dirty = false;
      if (resources.length === 0 && removed.length === 0) {
        st.sentVersion = ts.version; // the client is up to date with this version
        continue;
      }
      const nonce = this.nextNonce();
      const flight: InFlight = { systemVersion: ts.version, from: ts, previous: new Map(), sent: new Map() };
      for (const r of resources) {
        flight.previous.set(r.name, st.clientHas.get(r.name));
        flight.sent.set(r.name, r.version);
        st.clientHas.set(r.name, r.version);
        st.announcedMissing.delete(r.name);
      }
      for (const name of removed) {
        flight.previous.set(name, st.clientHas.get(name));
        flight.sent.set(name, undefined);
        st.clientHas.delete(name);
      }
      st.inFlight.set(nonce, flight);
      st.sentVersion = ts.version;
      st.sentNonce = nonce;
      const bytes = encodeDeltaDiscoveryResponse({
        systemVersionInfo: ts.version,
        typeUrl,
        nonce,
        resources,
        removed,
        controlPlaneId: this.server.options.controlPlaneId,
      });
      this.send(bytes, { typeUrl, version: ts.version, nonce, resources: resources.length, removed: removed.length, bytes: bytes.length });
    }
  }

  #blockedByEarlier(typeUrl: string): boolean {
    const mine = orderOf(typeUrl);
    for (const [other, st] of this.types) if (st.inFlight.size > 0 && orderOf(other) < mine) return true;
    return false;
  }

  status(): Record<string, AdsTypeStatus> {
    const out: Record<string, AdsTypeStatus> = {};
    for (const [typeUrl, st] of this.types) {
      out[typeUrl] = {
        subscribed: st.wildcard ? '*' : [...st.names],
        sentVersion: st.sentVersion,
        sentNonce: st.sentNonce,
        ackedVersion: st.ackedVersion,
        ackedAt: st.ackedAt,
        pending: st.inFlight.size > 0,
        lastNack: st.lastNack,
      };
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------

let nextStreamId = 1;

class AdsServerImpl implements AdsServer {
  readonly counters: AdsCounters = { streamsOpened: 0, streamsClosed: 0, requests: 0, pushes: 0, resourcesSent: 0, bytesSent: 0, acks: 0, nacks: 0 };
  readonly #open = new Set<StreamBase>();

  constructor(
    readonly cache: SnapshotCache,
    readonly hooks: AdsHooks,
    readonly options: AdsServerOptions,
  ) {}

  open(stream: StreamBase): void {
    this.#open.add(stream);
    this.counters.streamsOpened++;
  }

  closeStream(stream: StreamBase): void {
    if (this.#open.delete(stream)) this.counters.streamsClosed++;
  }

  hook<K extends keyof AdsHooks>(name: K, ...args: Parameters<NonNullable<AdsHooks[K]>>): void {
    const fn = this.hooks[name] as ((...a: unknown[]) => void) | undefined;
    if (fn === undefined) return;
    try {
      fn.apply(this.hooks, args);
    } catch (error) {
      log.error({ err: error, hook: name }, 'ADS hook threw');
    }
  }

  streams(): AdsStreamStatus[] {
    const out: AdsStreamStatus[] = [];
    for (const s of this.#open) if (s.info) out.push({ ...s.info, key: s.key, types: s.status() });
    return out;
  }

  closeAll(): void {
    for (const s of [...this.#open]) s.fail(grpc.status.UNAVAILABLE, 'control plane shutting down');
  }

  disconnect(streamId: number, reason: string): boolean {
    for (const s of this.#open) {
      if (s.ctx.id !== streamId) continue;
      s.fail(grpc.status.UNAVAILABLE, reason);
      return true;
    }
    return false;
  }
}

/**
 * Registers the AggregatedDiscoveryService (SotW and delta) on `server`, serving snapshots from
 * `cache`. The caller binds and starts the server and chooses its credentials (see xdsServerCredentials).
 */
export function addAdsService(server: grpc.Server, cache: SnapshotCache, hooks: AdsHooks = {}, options: AdsServerOptions = {}): AdsServer {
  const impl = new AdsServerImpl(cache, hooks, options);
  server.addService(adsServerDefinition(), {
    StreamAggregatedResources: (call: AnyCall) => new SotwStream({ server: impl, call, id: nextStreamId++ }),
    DeltaAggregatedResources: (call: AnyCall) => new DeltaStream({ server: impl, call, id: nextStreamId++ }),
  });
  return impl;
}

/**
 * TLS server credentials for the xDS port: the control plane's certificate, and the trust bundle
 * that client (workload) certificates must chain to. With `requireClientCert` (default true) a
 * client without a valid certificate cannot open a stream.
 */
export function xdsServerCredentials(options: { certChainPem: string; keyPem: string; trustBundlePem: string; requireClientCert?: boolean }): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(
    Buffer.from(options.trustBundlePem),
    [{ cert_chain: Buffer.from(options.certChainPem), private_key: Buffer.from(options.keyPem) }],
    options.requireClientCert ?? true,
  );
}
