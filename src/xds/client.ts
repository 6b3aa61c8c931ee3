// The ADS client used by the weft proxy: one stream (State of the World or Delta) to the control
// plane over TLS, subscribing to LDS and CDS (wildcard) and following their references to RDS and
// EDS names. It hands the proxy only complete, consistent sets — every route configuration a
// listener names, every cluster a route names, every ClusterLoadAssignment an EDS cluster needs —
// through `apply(set)`; if `apply` throws, the response that produced the set is NACKed with the
// error and the last good set stays in force. It reconnects with exponential backoff and jitter and
// resumes with the versions it holds (delta: initial_resource_versions), so a control-plane restart
// with unchanged config sends nothing new.
import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { checkServerIdentity as tlsCheckServerIdentity, type PeerCertificate } from 'node:tls';
import { Watch } from '../core/watch.ts';
import { WeftError } from '../core/errors.ts';
import { logger } from '../core/logger.ts';
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  XdsDecodeError,
  resourceNameOf,
  typeNameOf,
  unpackAny,
} from './resources.ts';
import {
  DELTA_METHOD_PATH,
  SOTW_METHOD_PATH,
  decodeDeltaDiscoveryResponse,
  decodeDiscoveryResponse,
  encodeDeltaDiscoveryRequest,
  encodeDiscoveryRequest,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse__Output,
  type DiscoveryRequest,
  type DiscoveryResponse__Output,
} from './wire.ts';
import { nodeMessage, spiffeIdFromSubjectAltName } from './node.ts';
import { edsServiceName, listenerRefs, routeClusters } from './deps.ts';
import type { Listener__Output } from './generated/envoy/config/listener/v3/Listener.ts';
import type { RouteConfiguration__Output } from './generated/envoy/config/route/v3/RouteConfiguration.ts';
import type { Cluster__Output } from './generated/envoy/config/cluster/v3/Cluster.ts';
import type { ClusterLoadAssignment__Output } from './generated/envoy/config/endpoint/v3/ClusterLoadAssignment.ts';

const log = logger('xds.client');

/** The four resource types the client follows, in the order it subscribes. */
const TYPES = [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL] as const;
type FollowedType = (typeof TYPES)[number];
const SHORT: Record<FollowedType, 'CDS' | 'EDS' | 'LDS' | 'RDS'> = {
  [CLUSTER_TYPE_URL]: 'CDS',
  [ENDPOINT_TYPE_URL]: 'EDS',
  [LISTENER_TYPE_URL]: 'LDS',
  [ROUTE_TYPE_URL]: 'RDS',
};

/** A complete, consistent set of resources (decoded, snake_case fields, defaults filled). */
export interface XdsResourceSet {
  readonly listeners: ReadonlyMap<string, Listener__Output>;
  readonly routes: ReadonlyMap<string, RouteConfiguration__Output>;
  readonly clusters: ReadonlyMap<string, Cluster__Output>;
  readonly endpoints: ReadonlyMap<string, ClusterLoadAssignment__Output>;
  /** version_info (SotW) or system_version_info (delta) last accepted per type. */
  readonly versions: Readonly<Record<'LDS' | 'RDS' | 'CDS' | 'EDS', string>>;
}

export interface AdsClientTls {
  /** Trust bundle the control plane's certificate must chain to. */
  caPem: string;
  /** This workload's certificate chain and key (the key never leaves this process). */
  certChainPem: string;
  keyPem: string;
  /**
   * Expected SPIFFE ID of the control plane (exact, or a prefix ending in "/" such as
   * "spiffe://mesh.local/"). When absent the server certificate's DNS/IP names are checked against
   * `serverName` or the target host.
   */
  serverSpiffeId?: string;
  serverName?: string;
}

export interface AdsBackoff {
  initialMs: number;
  maxMs: number;
  multiplier: number;
  /** Each delay is scaled by a random factor in [1 - jitter, 1 + jitter]. */
  jitter: number;
}

export interface AdsClientOptions {
  /** host:port of the control plane's xDS port. */
  target: string;
  /**
   * TLS material, or a function returning it (called at every connect, so a renewed certificate is
   * picked up on the next reconnect). 'insecure' is for tests and local development only.
   */
  tls: AdsClientTls | (() => AdsClientTls) | 'insecure';
  node: { id: string; cluster?: string; metadata?: Readonly<Record<string, unknown>>; locality?: { region?: string; zone?: string; sub_zone?: string } };
  /** 'delta' (default) or 'sotw'. */
  mode?: 'delta' | 'sotw';
  /**
   * Receives each new complete set, and the set it replaces. Throwing NACKs the response that
   * produced it; the previous set stays. Resources unchanged since `previous` are the same objects,
   * so the proxy can rebuild only what changed (compare with `===`).
   */
  apply(set: XdsResourceSet, previous: XdsResourceSet | undefined): void;
  backoff?: Partial<AdsBackoff>;
  channelOptions?: grpc.ChannelOptions;
}

export interface AdsClientNack {
  readonly type: 'LDS' | 'RDS' | 'CDS' | 'EDS';
  readonly typeUrl: string;
  readonly version: string;
  readonly message: string;
  readonly at: number;
}

export interface AdsClientState {
  readonly connected: boolean;
  readonly mode: 'delta' | 'sotw';
  readonly target: string;
  /** Last ACKed version per type. */
  readonly acked: Readonly<Partial<Record<'LDS' | 'RDS' | 'CDS' | 'EDS', { version: string; at: number }>>>;
  readonly lastNack: AdsClientNack | undefined;
  /** How many sets have been applied, and the versions of the last one. */
  readonly applied: number;
  readonly appliedVersions: XdsResourceSet['versions'] | undefined;
  readonly appliedAt: number | undefined;
  /** References not yet resolved (e.g. "RDS:web", "EDS:backend") while the received set is incomplete. */
  readonly waitingFor: readonly string[];
  readonly reconnects: number;
  readonly lastError: string | undefined;
}

/** The client could not complete an operation (bad TLS material, stopped). */
export class AdsClientError extends WeftError {
  constructor(code: 'XDS_CLIENT_TLS' | 'XDS_CLIENT_STOPPED', message: string, cause?: unknown) {
    super(code, message, { cause });
  }
}

interface Held {
  version: string;
  resource: unknown;
  /** Hash of the encoded resource: an identical resource is not decoded again and keeps its object. */
  hash: string;
}

function hashOf(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('base64');
}

type Stream = grpc.ClientDuplexStream<DiscoveryRequest | DeltaDiscoveryRequest, DiscoveryResponse__Output | DeltaDiscoveryResponse__Output>;

const DEFAULT_BACKOFF: AdsBackoff = { initialMs: 500, maxMs: 30_000, multiplier: 2, jitter: 0.2 };

export class AdsClient {
  readonly state: Watch<AdsClientState>;
  readonly #opts: AdsClientOptions;
  readonly #mode: 'delta' | 'sotw';
  readonly #backoff: AdsBackoff;
  /** What the client holds and ACKed, per type (applied or waiting for dependencies). */
  readonly #held = new Map<FollowedType, Map<string, Held>>(TYPES.map((t) => [t, new Map()]));
  readonly #typeVersion = new Map<FollowedType, string>();
  readonly #nonce = new Map<FollowedType, string>();
  /** Names currently subscribed for RDS and EDS (LDS and CDS are wildcard). */
  readonly #subscribed = new Map<FollowedType, Set<string>>([
    [ROUTE_TYPE_URL, new Set()],
    [ENDPOINT_TYPE_URL, new Set()],
  ]);
  readonly #received = new Set<FollowedType>();
  #current: XdsResourceSet | undefined;
  #client: grpc.Client | undefined;
  #stream: Stream | undefined;
  #sentNode = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;

  constructor(options: AdsClientOptions) {
    this.#opts = options;
    this.#mode = options.mode ?? 'delta';
    this.#backoff = { ...DEFAULT_BACKOFF, ...(options.backoff ?? {}) };
    this.state = new Watch<AdsClientState>({
      connected: false,
      mode: this.#mode,
      target: options.target,
      acked: {},
      lastNack: undefined,
      applied: 0,
      appliedVersions: undefined,
      appliedAt: undefined,
      waitingFor: [],
      reconnects: 0,
      lastError: undefined,
    });
  }

  /** The last set handed to `apply` (the config in force), if any. */
  get current(): XdsResourceSet | undefined {
    return this.#current;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#connect();
  }

  /** Closes the stream and stops reconnecting. The last applied set stays available in `current`. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#teardown();
    this.#update({ connected: false });
  }

  #update(patch: Partial<AdsClientState>): void {
    this.state.set(Object.freeze({ ...this.state.current, ...patch }));
  }

  /** Channel credentials and the TLS server name for one connection attempt. */
  #credentials(): { credentials: grpc.ChannelCredentials; serverName: string | undefined } {
    const tlsOpt = this.#opts.tls;
    if (tlsOpt === 'insecure') return { credentials: grpc.credentials.createInsecure(), serverName: undefined };
    const tls = typeof tlsOpt === 'function' ? tlsOpt() : tlsOpt;
    const expected = tls.serverSpiffeId;
    const verify = (hostname: string, cert: PeerCertificate): Error | undefined => {
      if (expected === undefined) return tlsCheckServerIdentity(tls.serverName ?? hostname, cert);
      const actual = spiffeIdFromSubjectAltName(cert.subjectaltname);
      const okId = actual !== undefined && (expected.endsWith('/') ? actual.startsWith(expected) : actual === expected);
      return okId ? undefined : new AdsClientError('XDS_CLIENT_TLS', `control plane identity ${actual ?? '(none)'} is not ${expected}`);
    };
    const credentials = grpc.credentials.createSsl(Buffer.from(tls.caPem), Buffer.from(tls.keyPem), Buffer.from(tls.certChainPem), { checkServerIdentity: verify });
    // With SPIFFE verification the SNI is only a label; an IP literal is not a valid SNI (RFC 6066).
    return { credentials, serverName: tls.serverName ?? (expected !== undefined ? 'weft-xds' : undefined) };
  }

  #teardown(): void {
    const stream = this.#stream;
    this.#stream = undefined;
    if (stream) {
      stream.removeAllListeners('data');
      stream.removeAllListeners('status');
      stream.on('error', () => {});
      stream.cancel();
    }
    this.#client?.close();
    this.#client = undefined;
  }

  #connect(): void {
    if (this.#stopped) return;
    let credentials: grpc.ChannelCredentials;
    let serverName: string | undefined;
    try {
      ({ credentials, serverName } = this.#credentials());
    } catch (error) {
      this.#update({ lastError: `TLS material unusable: ${(error as Error).message}` });
      this.#scheduleReconnect();
      return;
    }
    // Keepalive notices a control plane that vanished without closing the connection (partition).
    const options: grpc.ChannelOptions = {
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.keepalive_permit_without_calls': 1,
      // A full SotW CDS/RDS for a large mesh can exceed gRPC's 4 MiB default.
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      ...(this.#opts.channelOptions ?? {}),
    };
    if (serverName !== undefined) options['grpc.ssl_target_name_override'] = serverName;
    const client = new grpc.Client(this.#opts.target, credentials, options);
    this.#client = client;
    const delta = this.#mode === 'delta';
    const stream = (
      delta
        ? client.makeBidiStreamRequest(DELTA_METHOD_PATH, encodeDeltaDiscoveryRequest, decodeDeltaDiscoveryResponse)
        : client.makeBidiStreamRequest(SOTW_METHOD_PATH, encodeDiscoveryRequest, decodeDiscoveryResponse)
    ) as Stream;
    this.#stream = stream;
    this.#sentNode = false;
    this.#nonce.clear();
    stream.on('metadata', () => {
      if (this.#stream === stream) this.#update({ connected: true });
    });
    stream.on('data', (msg: DiscoveryResponse__Output | DeltaDiscoveryResponse__Output) => {
      if (this.#stream !== stream) return;
      this.#attempt = 0;
      if (!this.state.current.connected) this.#update({ connected: true });
      try {
        if (delta) this.#onDelta(msg as DeltaDiscoveryResponse__Output);
        else this.#onSotw(msg as DiscoveryResponse__Output);
      } catch (error) {
        log.error({ err: error }, 'xDS response handling failed');
      }
    });
    const onGone = (why: string): void => {
      if (this.#stream !== stream) return;
      this.#teardown();
      this.#update({ connected: false, lastError: why });
      this.#scheduleReconnect();
    };
    stream.on('error', (e: grpc.ServiceError) => onGone(`stream failed: ${e.details || e.message}`));
    stream.on('end', () => onGone('stream ended by the control plane'));
    this.#subscribeAll();
  }

  #scheduleReconnect(): void {
    if (this.#stopped || this.#timer) return;
    const b = this.#backoff;
    const base = Math.min(b.maxMs, b.initialMs * b.multiplier ** this.#attempt);
    const delay = Math.max(0, Math.round(base * (1 - b.jitter + Math.random() * 2 * b.jitter)));
    this.#attempt++;
    this.#update({ reconnects: this.state.current.reconnects + 1 });
    log.info({ delayMs: delay, attempt: this.#attempt, target: this.#opts.target }, 'xDS stream down; reconnecting');
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#connect();
    }, delay);
    this.#timer.unref?.();
  }

  // -------------------------------------------------------------------------------------------
  // Requests

  #write(req: DiscoveryRequest | DeltaDiscoveryRequest): void {
    if (!this.#stream) return;
    if (!this.#sentNode) {
      req.node = nodeMessage(this.#opts.node);
      this.#sentNode = true;
    }
    this.#stream.write(req);
  }

  /** First requests of a stream: CDS, EDS, LDS, RDS with what we hold (resumption). */
  #subscribeAll(): void {
    for (const typeUrl of TYPES) {
      const named = this.#subscribed.get(typeUrl);
      if (named !== undefined && named.size === 0) continue;
      if (this.#mode === 'delta') {
        const initial: Record<string, string> = {};
        for (const [name, h] of this.#held.get(typeUrl)!) initial[name] = h.version;
        this.#write({
          type_url: typeUrl,
          resource_names_subscribe: named ? [...named] : ['*'],
          initial_resource_versions: initial,
        });
      } else {
        this.#write({ type_url: typeUrl, version_info: this.#typeVersion.get(typeUrl) ?? '', resource_names: named ? [...named] : [] });
      }
    }
  }

  #ackSotw(typeUrl: FollowedType, version: string, nonce: string, error?: string): void {
    const named = this.#subscribed.get(typeUrl);
    this.#write({
      type_url: typeUrl,
      version_info: version,
      response_nonce: nonce,
      resource_names: named ? [...named] : [],
      ...(error !== undefined ? { error_detail: { code: grpc.status.INVALID_ARGUMENT, message: error } } : {}),
    });
  }

  #ackDelta(typeUrl: FollowedType, nonce: string, error?: string): void {
    this.#write({
      type_url: typeUrl,
      response_nonce: nonce,
      ...(error !== undefined ? { error_detail: { code: grpc.status.INVALID_ARGUMENT, message: error } } : {}),
    });
  }

  /** Brings the RDS/EDS subscriptions in line with what the held listeners and clusters reference. */
  #updateSubscriptions(wanted: Map<FollowedType, Set<string>>): void {
    for (const [typeUrl, want] of wanted) {
      const have = this.#subscribed.get(typeUrl)!;
      const added = [...want].filter((n) => !have.has(n));
      const removed = [...have].filter((n) => !want.has(n));
      if (added.length === 0 && removed.length === 0) continue;
      this.#subscribed.set(typeUrl, new Set(want));
      const held = this.#held.get(typeUrl)!;
      for (const n of removed) held.delete(n);
      if (this.#mode === 'delta') {
        this.#write({ type_url: typeUrl, resource_names_subscribe: added, resource_names_unsubscribe: removed });
      } else {
        const nonce = this.#nonce.get(typeUrl);
        // The first request for a named type carries no nonce; later ones carry the latest.
        if (want.size === 0 && nonce === undefined) continue;
        this.#write({ type_url: typeUrl, version_info: this.#typeVersion.get(typeUrl) ?? '', response_nonce: nonce ?? '', resource_names: [...want] });
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Responses

  #onSotw(res: DiscoveryResponse__Output): void {
    const typeUrl = res.type_url as FollowedType;
    if (!TYPES.includes(typeUrl)) {
      this.#ackSotw(typeUrl, this.#typeVersion.get(typeUrl) ?? '', res.nonce, `weft does not handle ${res.type_url}`);
      return;
    }
    this.#nonce.set(typeUrl, res.nonce);
    let decoded: Map<string, Held>;
    try {
      decoded = new Map();
      const known = new Map<string, [string, Held]>();
      for (const [n, h] of this.#held.get(typeUrl)!) known.set(h.hash, [n, h]);
      for (const any of res.resources) {
        if (typeNameOf(any.type_url) !== typeNameOf(typeUrl)) throw new XdsDecodeError(`resource of type ${any.type_url} in a ${typeUrl} response`);
        const hash = hashOf(any.value);
        const same = known.get(hash);
        if (same !== undefined) {
          decoded.set(same[0], { ...same[1], version: res.version_info });
          continue;
        }
        const r = unpackAny<Record<string, unknown>>(any);
        const name = resourceNameOf(typeUrl, r);
        if (!name) throw new XdsDecodeError(`a ${SHORT[typeUrl]} resource without a name`);
        decoded.set(name, { version: res.version_info, resource: r, hash });
      }
    } catch (error) {
      this.#reject(typeUrl, res.version_info, (error as Error).message, () => this.#ackSotw(typeUrl, this.#typeVersion.get(typeUrl) ?? '', res.nonce, (error as Error).message));
      return;
    }
    // LDS and CDS responses are the whole state; RDS and EDS responses replace the named resources.
    let next: Map<string, Held>;
    if (typeUrl === LISTENER_TYPE_URL || typeUrl === CLUSTER_TYPE_URL) next = decoded;
    else {
      next = new Map(this.#held.get(typeUrl));
      for (const [n, h] of decoded) next.set(n, h);
    }
    this.#accept(
      typeUrl,
      next,
      res.version_info,
      () => this.#ackSotw(typeUrl, res.version_info, res.nonce),
      (message) => this.#ackSotw(typeUrl, this.#typeVersion.get(typeUrl) ?? '', res.nonce, message),
    );
  }

  #onDelta(res: DeltaDiscoveryResponse__Output): void {
    const typeUrl = res.type_url as FollowedType;
    if (!TYPES.includes(typeUrl)) {
      this.#ackDelta(typeUrl, res.nonce, `weft does not handle ${res.type_url}`);
      return;
    }
    const next = new Map(this.#held.get(typeUrl));
    try {
      for (const name of res.removed_resources) next.delete(name);
      for (const r of res.resources) {
        if (!r.resource) throw new XdsDecodeError(`${SHORT[typeUrl]} resource "${r.name}" without a body`);
        if (typeNameOf(r.resource.type_url) !== typeNameOf(typeUrl)) throw new XdsDecodeError(`resource of type ${r.resource.type_url} in a ${typeUrl} response`);
        const hash = hashOf(r.resource.value);
        const prev = r.name ? next.get(r.name) : undefined;
        if (prev !== undefined && prev.hash === hash) {
          next.set(r.name, { ...prev, version: r.version });
          continue;
        }
        const decoded = unpackAny<Record<string, unknown>>(r.resource);
        const name = r.name || resourceNameOf(typeUrl, decoded);
        next.set(name, { version: r.version, resource: decoded, hash });
      }
    } catch (error) {
      this.#reject(typeUrl, res.system_version_info, (error as Error).message, () => this.#ackDelta(typeUrl, res.nonce, (error as Error).message));
      return;
    }
    this.#accept(
      typeUrl,
      next,
      res.system_version_info,
      () => this.#ackDelta(typeUrl, res.nonce),
      (message) => this.#ackDelta(typeUrl, res.nonce, message),
    );
  }

  #reject(typeUrl: FollowedType, version: string, message: string, sendNack: () => void): void {
    log.warn({ type: SHORT[typeUrl], version, error: message }, 'xDS response rejected (NACK)');
    sendNack();
    this.#update({ lastNack: { type: SHORT[typeUrl], typeUrl, version, message, at: Date.now() } });
  }

  /**
   * Replaces one type's resources with `next`, computes the resulting set and its references, and
   * applies it when complete. ACKs on success or when the set is merely waiting for references;
   * NACKs (keeping the previous state of that type) when decoding references or `apply` fails.
   */
  #accept(typeUrl: FollowedType, next: Map<string, Held>, version: string, ack: () => void, nack: (message: string) => void): void {
    const held = new Map(this.#held);
    held.set(typeUrl, next);
    const received = new Set(this.#received).add(typeUrl);
    let refs: ReturnType<typeof computeRefs>;
    try {
      refs = computeRefs(held);
    } catch (error) {
      this.#reject(typeUrl, version, (error as Error).message, () => nack((error as Error).message));
      return;
    }
    const versions = new Map(this.#typeVersion).set(typeUrl, version);
    const missing = [...refs.missing];
    if (!received.has(LISTENER_TYPE_URL)) missing.unshift('LDS');
    if (!received.has(CLUSTER_TYPE_URL)) missing.unshift('CDS');
    if (missing.length === 0) {
      const set = buildSet(held, refs, versions);
      if (this.#current !== undefined && sameSet(set, this.#current)) {
        // Nothing changed (e.g. a SotW resend after a reconnect): keep the set in force, just ACK.
        this.#commit(typeUrl, next, version, received);
        ack();
        this.#update({ acked: { ...this.state.current.acked, [SHORT[typeUrl]]: { version, at: Date.now() } }, waitingFor: [] });
        this.#updateSubscriptions(
          new Map<FollowedType, Set<string>>([
            [ROUTE_TYPE_URL, refs.wantRoutes],
            [ENDPOINT_TYPE_URL, refs.wantEndpoints],
          ]),
        );
        return;
      }
      try {
        this.#opts.apply(set, this.#current);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        this.#reject(typeUrl, version, message, () => nack(message));
        return;
      }
      this.#current = set;
      this.#commit(typeUrl, next, version, received);
      ack();
      this.#update({
        acked: { ...this.state.current.acked, [SHORT[typeUrl]]: { version, at: Date.now() } },
        applied: this.state.current.applied + 1,
        appliedVersions: set.versions,
        appliedAt: Date.now(),
        waitingFor: [],
      });
    } else {
      this.#commit(typeUrl, next, version, received);
      ack();
      this.#update({ acked: { ...this.state.current.acked, [SHORT[typeUrl]]: { version, at: Date.now() } }, waitingFor: missing });
    }
    this.#updateSubscriptions(
      new Map<FollowedType, Set<string>>([
        [ROUTE_TYPE_URL, refs.wantRoutes],
        [ENDPOINT_TYPE_URL, refs.wantEndpoints],
      ]),
    );
  }

  #commit(typeUrl: FollowedType, next: Map<string, Held>, version: string, received: Set<FollowedType>): void {
    this.#held.set(typeUrl, next);
    this.#typeVersion.set(typeUrl, version);
    this.#received.clear();
    for (const t of received) this.#received.add(t);
  }
}

interface Refs {
  wantRoutes: Set<string>;
  wantEndpoints: Set<string>;
  missing: string[];
}

function computeRefs(held: Map<FollowedType, Map<string, Held>>): Refs {
  const listeners = held.get(LISTENER_TYPE_URL)!;
  const routes = held.get(ROUTE_TYPE_URL)!;
  const clusters = held.get(CLUSTER_TYPE_URL)!;
  const endpoints = held.get(ENDPOINT_TYPE_URL)!;
  const wantRoutes = new Set<string>();
  const wantClusters = new Set<string>();
  const wantEndpoints = new Set<string>();
  for (const h of listeners.values()) {
    const r = listenerRefs(h.resource as Listener__Output);
    for (const n of r.routes) wantRoutes.add(n);
    for (const c of r.clusters) wantClusters.add(c);
  }
  for (const name of wantRoutes) {
    const rc = routes.get(name);
    if (rc) for (const c of routeClusters(rc.resource as RouteConfiguration__Output)) wantClusters.add(c);
  }
  for (const h of clusters.values()) {
    const eds = edsServiceName(h.resource as Cluster__Output);
    if (eds !== undefined) wantEndpoints.add(eds);
  }
  const missing: string[] = [];
  for (const n of wantRoutes) if (!routes.has(n)) missing.push(`RDS:${n}`);
  for (const n of wantClusters) if (!clusters.has(n)) missing.push(`CDS:${n}`);
  for (const n of wantEndpoints) if (!endpoints.has(n)) missing.push(`EDS:${n}`);
  return { wantRoutes, wantEndpoints, missing };
}

function sameMap(a: ReadonlyMap<string, unknown>, b: ReadonlyMap<string, unknown>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** Same resources (by identity) and same versions. */
function sameSet(a: XdsResourceSet, b: XdsResourceSet): boolean {
  const va = a.versions;
  const vb = b.versions;
  return (
    va.LDS === vb.LDS &&
    va.RDS === vb.RDS &&
    va.CDS === vb.CDS &&
    va.EDS === vb.EDS &&
    sameMap(a.listeners, b.listeners) &&
    sameMap(a.routes, b.routes) &&
    sameMap(a.clusters, b.clusters) &&
    sameMap(a.endpoints, b.endpoints)
  );
}

function buildSet(held: Map<FollowedType, Map<string, Held>>, refs: Refs, versions: Map<FollowedType, string>): XdsResourceSet {
  const pick = <T>(typeUrl: FollowedType, only?: Set<string>): ReadonlyMap<string, T> => {
    const out = new Map<string, T>();
    for (const [n, h] of held.get(typeUrl)!) if (!only || only.has(n)) out.set(n, h.resource as T);
    return out;
  };
  return Object.freeze({
    listeners: pick<Listener__Output>(LISTENER_TYPE_URL),
    routes: pick<RouteConfiguration__Output>(ROUTE_TYPE_URL, refs.wantRoutes),
    clusters: pick<Cluster__Output>(CLUSTER_TYPE_URL),
    endpoints: pick<ClusterLoadAssignment__Output>(ENDPOINT_TYPE_URL, refs.wantEndpoints),
    versions: Object.freeze({
      LDS: versions.get(LISTENER_TYPE_URL) ?? '',
      RDS: versions.get(ROUTE_TYPE_URL) ?? '',
      CDS: versions.get(CLUSTER_TYPE_URL) ?? '',
      EDS: versions.get(ENDPOINT_TYPE_URL) ?? '',
    }),
  });
}
