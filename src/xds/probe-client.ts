// A lightweight ADS client for benchmarks and tests: subscribes to the types it is told, ACKs
// every response (or NACKs when `nack` says so) and records versions and timestamps, without
// decoding resources — it reads only the response envelope (version, type URL, nonce, counts).
// Many probes can share one grpc.Client (one HTTP/2 connection, one stream each), so a single
// process can simulate a thousand proxies against a control plane.
import * as grpc from '@grpc/grpc-js';
import {
  DELTA_METHOD_PATH,
  SOTW_METHOD_PATH,
  encodeDeltaAck,
  encodeDeltaDiscoveryRequest,
  encodeDiscoveryRequest,
  encodeRepeatedString,
  encodeSotwAck,
  type DeltaDiscoveryRequest,
  type DiscoveryRequest,
} from './wire.ts';
import { nodeMessage } from './node.ts';

export interface ProbeSubscription {
  typeUrl: string;
  /** Names to subscribe to; absent = wildcard. */
  names?: string[];
}

export interface ProbeResponse {
  readonly typeUrl: string;
  readonly version: string;
  readonly nonce: string;
  readonly resources: number;
  readonly removed: number;
  readonly bytes: number;
  readonly at: number;
}

export interface AdsProbeOptions {
  /** A client (channel) to open the stream on; share one among many probes. */
  client: grpc.Client;
  nodeId: string;
  metadata?: Readonly<Record<string, unknown>>;
  mode: 'sotw' | 'delta';
  subscriptions: readonly ProbeSubscription[];
  /** Return an error message to NACK a response instead of ACKing it. */
  nack?(response: ProbeResponse): string | undefined;
  /** Called after each response has been ACKed or NACKed. */
  onResponse?(response: ProbeResponse, nacked: boolean): void;
}

/** Reads the envelope of a (Delta)DiscoveryResponse: string fields 1/4/5, counts of field 2 (resources) and 6 (delta removals). */
function readEnvelope(buf: Buffer, delta: boolean): Omit<ProbeResponse, 'at'> {
  let version = '';
  let typeUrl = '';
  let nonce = '';
  let resources = 0;
  let removed = 0;
  let o = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 1;
    for (;;) {
      const b = buf[o++]!;
      result += (b & 0x7f) * shift;
      if (b < 0x80) return result;
      shift *= 128;
    }
  };
  while (o < buf.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      varint();
      continue;
    }
    if (wire === 1) {
      o += 8;
      continue;
    }
    if (wire === 5) {
      o += 4;
      continue;
    }
    if (wire !== 2) throw new Error(`unexpected wire type ${wire}`);
    const len = varint();
    const start = o;
    o += len;
    if (field === 1) version = buf.toString('utf8', start, o);
    else if (field === 2) resources++;
    else if (field === 4) typeUrl = buf.toString('utf8', start, o);
    else if (field === 5) nonce = buf.toString('utf8', start, o);
    else if (field === 6 && delta) removed++;
  }
  return { typeUrl, version, nonce, resources, removed, bytes: buf.length };
}

const raw = (b: Buffer): Buffer => b;
const sotwSerialize = (r: DiscoveryRequest | Buffer): Buffer => (Buffer.isBuffer(r) ? r : encodeDiscoveryRequest(r));
const deltaSerialize = (r: DeltaDiscoveryRequest | Buffer): Buffer => (Buffer.isBuffer(r) ? r : encodeDeltaDiscoveryRequest(r));
type Outgoing = DiscoveryRequest | DeltaDiscoveryRequest | Buffer;

export class AdsProbe {
  /** Last response seen per type URL. */
  readonly last = new Map<string, ProbeResponse>();
  responses = 0;
  nacks = 0;
  closedWith: string | undefined;
  readonly #opts: AdsProbeOptions;
  #call: grpc.ClientDuplexStream<Outgoing, Buffer> | undefined;
  #waiters: Array<{ test: (r: ProbeResponse) => boolean; resolve: (r: ProbeResponse) => void }> = [];

  constructor(options: AdsProbeOptions) {
    this.#opts = options;
  }

  start(): void {
    const delta = this.#opts.mode === 'delta';
    const call = (
      delta
        ? this.#opts.client.makeBidiStreamRequest(DELTA_METHOD_PATH, deltaSerialize, raw)
        : this.#opts.client.makeBidiStreamRequest(SOTW_METHOD_PATH, sotwSerialize, raw)
    ) as grpc.ClientDuplexStream<Outgoing, Buffer>;
    this.#call = call;
    // ACKs are encoded by hand; a SotW ACK repeats the subscribed names, pre-encoded once per type.
    const names = new Map<string, Buffer>();
    call.on('data', (buf: Buffer) => {
      const env = readEnvelope(buf, delta);
      const response: ProbeResponse = { ...env, at: performance.now() };
      this.responses++;
      const error = this.#opts.nack?.(response);
      if (error !== undefined) this.nacks++;
      const errorDetail = error !== undefined ? { code: grpc.status.INVALID_ARGUMENT, message: error } : undefined;
      if (delta) call.write(encodeDeltaAck({ typeUrl: env.typeUrl, nonce: env.nonce, error: errorDetail }));
      else {
        const version = error !== undefined ? (this.last.get(env.typeUrl)?.version ?? '') : env.version;
        call.write(encodeSotwAck({ versionInfo: version, typeUrl: env.typeUrl, nonce: env.nonce, resourceNames: names.get(env.typeUrl), error: errorDetail }));
      }
      if (error === undefined) this.last.set(env.typeUrl, response);
      this.#opts.onResponse?.(response, error !== undefined);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.test(response)) return true;
        w.resolve(response);
        return false;
      });
    });
    call.on('error', (e: grpc.ServiceError) => {
      this.closedWith = e.details || e.message;
    });
    call.on('end', () => {
      this.closedWith ??= 'ended';
    });
    let first = true;
    for (const sub of this.#opts.subscriptions) {
      const node = first ? { node: nodeMessage({ id: this.#opts.nodeId, metadata: this.#opts.metadata }) } : {};
      first = false;
      if (delta) call.write({ ...node, type_url: sub.typeUrl, resource_names_subscribe: sub.names ?? ['*'] });
      else {
        const n = sub.names ?? ['*'];
        names.set(sub.typeUrl, encodeRepeatedString(3, n));
        call.write({ ...node, type_url: sub.typeUrl, resource_names: n });
      }
    }
  }

  /** Resolves with the first later response (ACKed or not) for which `test` holds. */
  next(test: (r: ProbeResponse) => boolean): Promise<ProbeResponse> {
    return new Promise((resolve) => this.#waiters.push({ test, resolve }));
  }

  /** Resolves once a response of `typeUrl` with `version` has been received (immediately if it already was). */
  waitForVersion(typeUrl: string, version: string): Promise<ProbeResponse> {
    const have = this.last.get(typeUrl);
    if (have?.version === version) return Promise.resolve(have);
    return this.next((r) => r.typeUrl === typeUrl && r.version === version);
  }

  stop(): void {
    this.#call?.cancel();
    this.#call = undefined;
  }
}
