// The workload side of identity: makes its key locally (it never leaves the process), enrols with a
// workload token, renews at 50% of the lifetime ±10% jitter, retries with exponential backoff while
// keeping the current certificate, follows trust bundle pushes and acknowledges them.
import * as grpc from '@grpc/grpc-js';
import { logger } from '../core/logger.ts';
import { Watch } from '../core/watch.ts';
import { toError } from '../core/errors.ts';
import { createCsr, spiffeIdOfPem } from './ca.ts';
import { makeBundle, rootIdForChain } from './bundle.ts';
import { IdentityError } from './errors.ts';
import { generateKeyPair, type KeyType } from './keys.ts';
import { materialFromPem, type IdentityMaterial } from './material.ts';
import { identityServiceClient, type BundleAckMsg, type CertifyRequestMsg, type CertifyResponseMsg, type TrustBundleMsg } from './proto.ts';
import { controlPlaneSpiffeId, parseSpiffeId, spiffeUrisOfSubjectAltName } from './spiffe.ts';

const log = logger('identity.client');

type Source = string | (() => string | Promise<string>);

export interface WorkloadIdentityClientOptions {
  /** host:port of the control plane's identity service. */
  target: string;
  /** The workload token, or a loader (e.g. re-reading a file, so a replaced token is picked up). */
  token: Source;
  /** PEM roots to trust the control plane with before the first bundle arrives (and on recovery). A loader is re-run on each attempt. */
  bootstrapBundle: Source;
  /** Default: the `sub` of the token. */
  spiffeId?: string;
  /** Expected SPIFFE ID of the control plane; default spiffe://<td>/ns/weft-system/sa/weft-control. */
  controlPlaneId?: string;
  keyType?: KeyType;
  /** Fraction of the lifetime at which to renew (default 0.5) and the ± jitter around it (default 0.1). */
  renewAt?: number;
  jitter?: number;
  /** Backoff when the control plane is unreachable: first delay and cap (defaults 250 ms, 30 s). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Hold a SyncTrustBundle stream open (default true). */
  syncBundle?: boolean;
  /** Per-call deadline (default 10 s). */
  callTimeoutMs?: number;
  random?: () => number;
  now?: () => number;
}

interface IdentityGrpcClient extends grpc.Client {
  Certify(req: CertifyRequestMsg, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: CertifyResponseMsg) => void): grpc.ClientUnaryCall;
  SyncTrustBundle(options?: grpc.CallOptions): grpc.ClientDuplexStream<BundleAckMsg, TrustBundleMsg>;
}

function decodeTokenSubject(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: string }).sub;
  } catch {
    return undefined;
  }
}

async function resolve(source: Source): Promise<string> {
  return typeof source === 'string' ? source : await source();
}

export class WorkloadIdentityClient {
  /** The current identity (undefined until the first certificate). Consumers read `.current` per connection. */
  readonly material = new Watch<IdentityMaterial | undefined>(undefined);
  readonly #options: WorkloadIdentityClientOptions;
  readonly #random: () => number;
  readonly #now: () => number;
  #client: IdentityGrpcClient | undefined;
  #clientTrust = '';
  #stream: grpc.ClientDuplexStream<BundleAckMsg, TrustBundleMsg> | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #streamTimer: NodeJS.Timeout | undefined;
  #backoffTimer: NodeJS.Timeout | undefined;
  #retrying = false;
  #nextRenewalAt: Date | undefined;
  #wake: (() => void) | undefined;
  #closed = false;
  #renewing: Promise<IdentityMaterial> | undefined;
  #failures = 0;
  #renewals = 0;
  #renewalFailures = 0;
  #lastError: string | undefined;
  #issuingRootId = '';
  #bundleVersion = 0;
  #bundlePem = '';

  constructor(options: WorkloadIdentityClientOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
  }

  get spiffeId(): string | undefined {
    return this.material.current?.spiffeId;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** When the next scheduled renewal fires (undefined before the first certificate or after close). */
  get nextRenewalAt(): Date | undefined {
    return this.#nextRenewalAt;
  }

  /** Enrols (retrying with backoff until it succeeds or the client is closed) and starts renewal and bundle sync. */
  async start(): Promise<IdentityMaterial> {
    const first = await this.#renewWithRetry();
    if (this.#options.syncBundle !== false) this.#openStream();
    return first;
  }

  close(): void {
    this.#closed = true;
    if (this.#renewTimer) clearTimeout(this.#renewTimer);
    if (this.#streamTimer) clearTimeout(this.#streamTimer);
    if (this.#backoffTimer) clearTimeout(this.#backoffTimer);
    this.#wake?.();
    this.#stream?.cancel();
    this.#stream = undefined;
    this.#client?.close();
    this.#client = undefined;
  }

  /** Requests a new certificate now (once; no retry). */
  renewNow(): Promise<IdentityMaterial> {
    this.#renewing ??= this.#certify().finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  /** Prometheus lines: certificate expiry and the current SPIFFE ID. */
  metrics(): string {
    const m = this.material.current;
    const lines = [
      '# HELP weft_identity_cert_expiry_seconds Seconds until the workload certificate expires.',
      '# TYPE weft_identity_cert_expiry_seconds gauge',
      m ? `weft_identity_cert_expiry_seconds{spiffe_id="${m.spiffeId}"} ${Math.round((m.notAfter.getTime() - this.#now()) / 1000)}` : 'weft_identity_cert_expiry_seconds NaN',
      '# HELP weft_identity_spiffe_id_info The workload SPIFFE ID (value is always 1).',
      '# TYPE weft_identity_spiffe_id_info gauge',
      ...(m ? [`weft_identity_spiffe_id_info{spiffe_id="${m.spiffeId}"} 1`] : []),
      '# TYPE weft_identity_renewals_total counter',
      `weft_identity_renewals_total ${this.#renewals}`,
      '# TYPE weft_identity_renewal_failures_total counter',
      `weft_identity_renewal_failures_total ${this.#renewalFailures}`,
    ];
    return lines.join('\n') + '\n';
  }

  // ------------------------------------------------------------------ transport

  async #trustPem(): Promise<string> {
    const held = this.#bundlePem;
    let bootstrap = '';
    try {
      bootstrap = await resolve(this.#options.bootstrapBundle);
    } catch (error) {
      if (!held) throw error;
    }
    return held && bootstrap ? makeBundle(0, [held, bootstrap]).pem : held || bootstrap;
  }

  async #grpc(): Promise<IdentityGrpcClient> {
    const trust = await this.#trustPem();
    if (this.#client && trust === this.#clientTrust) return this.#client;
    this.#client?.close();
    const td = parseSpiffeId(await this.#ownId()).trustDomain;
    const expected = this.#options.controlPlaneId ?? controlPlaneSpiffeId(td);
    const creds = grpc.credentials.createSsl(Buffer.from(trust), null, null, {
      checkServerIdentity: (_host, cert) => {
        // exactly one SPIFFE ID, and it must be the control plane's
        const uris = spiffeUrisOfSubjectAltName(cert.subjectaltname);
        return uris.length === 1 && uris[0] === expected ? undefined : new IdentityError('IDENTITY_PEER_REJECTED', `control plane presented ${uris.join(', ') || 'no SPIFFE ID'}, expected ${expected}`);
      },
    });
    const Ctor = identityServiceClient();
    // The peer is checked by SPIFFE ID above, not by host name; a fixed name keeps gRPC from sending
    // an IP address as TLS SNI (RFC 6066 forbids it, and node warns with DEP0123).
    this.#client = new Ctor(this.#options.target, creds, { 'grpc.max_reconnect_backoff_ms': 5000, 'grpc.ssl_target_name_override': 'weft-identity' }) as unknown as IdentityGrpcClient;
    this.#clientTrust = trust;
    return this.#client;
  }

  async #ownId(): Promise<string> {
    if (this.#options.spiffeId) return this.#options.spiffeId;
    const sub = decodeTokenSubject(await resolve(this.#options.token));
    if (!sub) throw new IdentityError('IDENTITY_TOKEN_INVALID', 'the workload token has no subject; pass spiffeId explicitly');
    return sub;
  }

  // ------------------------------------------------------------------ issuance and renewal

  async #certify(): Promise<IdentityMaterial> {
    const spiffeId = await this.#ownId();
    const token = await resolve(this.#options.token);
    const pair = generateKeyPair(this.#options.keyType ?? 'ec-p256');
    const csrPem = await createCsr(pair.privateKeyPem, spiffeId);
    const client = await this.#grpc();
    const current = this.material.current;
    const res = await new Promise<CertifyResponseMsg>((ok, fail) => {
      client.Certify(
        { csr_pem: csrPem, credential: { workload_token: token }, replaces_serial: current?.serial ?? '', held_bundle_version: String(this.#bundleVersion) },
        { deadline: Date.now() + (this.#options.callTimeoutMs ?? 10_000) },
        (error, response) => (error ? fail(error) : ok(response!)),
      );
    });
    if (spiffeIdOfPem(res.cert_chain_pem) !== spiffeId) throw new IdentityError('IDENTITY_CERT_INVALID', 'the control plane returned a certificate for another identity');
    this.#bundlePem = res.bundle.pem;
    this.#bundleVersion = Number(res.bundle.version);
    this.#issuingRootId = res.bundle.issuing_root_id;
    const material = materialFromPem({ spiffeId, certChainPem: res.cert_chain_pem, keyPem: pair.privateKeyPem, trustBundlePem: res.bundle.pem, bundleVersion: this.#bundleVersion });
    this.material.set(material);
    this.#renewals++;
    this.#failures = 0;
    this.#lastError = undefined;
    this.#scheduleRenewal(material);
    // A bundle learnt through Certify counts too: tell the stream.
    this.#stream?.write({ version: String(this.#bundleVersion) });
    return material;
  }

  #scheduleRenewal(material: IdentityMaterial, delayOverride?: number): void {
    if (this.#closed) return;
    if (this.#renewTimer) clearTimeout(this.#renewTimer);
    const now = this.#now();
    const remaining = Math.max(0, material.notAfter.getTime() - now);
    const fraction = (this.#options.renewAt ?? 0.5) + ((this.#random() * 2 - 1) * (this.#options.jitter ?? 0.1));
    const delay = delayOverride ?? remaining * fraction;
    this.#nextRenewalAt = new Date(now + delay);
    this.#renewTimer = setTimeout(() => {
      if (!this.#retrying) void this.#renewWithRetry().catch(() => {});
    }, delay);
    this.#renewTimer.unref();
  }

  async #renewWithRetry(): Promise<IdentityMaterial> {
    this.#retrying = true;
    try {
      return await this.#retryLoop();
    } finally {
      this.#retrying = false;
    }
  }

  async #retryLoop(): Promise<IdentityMaterial> {
    for (;;) {
      try {
        return await this.renewNow();
      } catch (error) {
        this.#renewalFailures++;
        this.#failures++;
        const e = toError(error) as Error & { code?: unknown; details?: string };
        this.#lastError = e.message;
        if (this.#closed) throw new IdentityError('IDENTITY_UNAVAILABLE', 'identity client closed', { cause: error });
        const base = Math.min(this.#options.backoffMaxMs ?? 30_000, (this.#options.backoffInitialMs ?? 250) * 2 ** Math.min(this.#failures - 1, 20));
        const delay = base / 2 + this.#random() * (base / 2);
        const level = this.#failures === 1 || this.#failures % 10 === 0 ? 'warn' : 'debug';
        log[level]({ err: e.message, failures: this.#failures, retryInMs: Math.round(delay), haveCertificate: this.material.current !== undefined }, 'certificate request failed; keeping the current certificate and retrying');
        // Drop the channel so the next attempt re-reads the bootstrap bundle and reconnects.
        this.#client?.close();
        this.#client = undefined;
        await new Promise<void>((r) => {
          this.#wake = r;
          this.#backoffTimer = setTimeout(r, delay);
        });
        this.#wake = undefined;
        if (this.#closed) throw new IdentityError('IDENTITY_UNAVAILABLE', 'identity client closed');
      }
    }
  }

  // ------------------------------------------------------------------ trust bundle stream

  #openStream(): void {
    if (this.#closed) return;
    void (async () => {
      let client: IdentityGrpcClient;
      let token: string;
      try {
        client = await this.#grpc();
        token = await resolve(this.#options.token);
      } catch (error) {
        this.#retryStream(toError(error).message);
        return;
      }
      const stream = client.SyncTrustBundle();
      this.#stream = stream;
      let gotData = false;
      stream.on('data', (b: TrustBundleMsg) => {
        gotData = true;
        this.#installBundle(b);
        stream.write({ version: String(this.#bundleVersion) });
      });
      const restart = (why: string) => {
        if (this.#stream !== stream) return;
        this.#stream = undefined;
        if (gotData) this.#failures = 0;
        this.#retryStream(why);
      };
      stream.on('error', (e: Error) => restart(e.message));
      stream.on('end', () => restart('stream ended'));
      stream.write({ credential: { workload_token: token }, version: String(this.#bundleVersion) });
    })();
  }

  #retryStream(why: string): void {
    if (this.#closed) return;
    const delay = Math.min(this.#options.backoffMaxMs ?? 30_000, 250 + this.#random() * 1000);
    log.debug({ why, retryInMs: Math.round(delay) }, 'trust bundle stream closed; reopening');
    this.#streamTimer = setTimeout(() => this.#openStream(), delay);
    this.#streamTimer.unref();
  }

  #installBundle(b: TrustBundleMsg): void {
    const version = Number(b.version);
    const issuerChanged = b.issuing_root_id !== this.#issuingRootId;
    this.#issuingRootId = b.issuing_root_id;
    const current = this.material.current;
    if (version !== this.#bundleVersion || b.pem !== this.#bundlePem) {
      this.#bundleVersion = version;
      this.#bundlePem = b.pem;
      if (current) this.material.set(Object.freeze({ ...current, trustBundlePem: b.pem, bundleVersion: version }));
      // The control-plane channel is rebuilt with the new trust set lazily, by #grpc(), on the next call.
    }
    const m = this.material.current;
    if (!m || !b.issuing_root_id) return;
    const myRoot = rootIdForChain(m.certChainPem, b.pem);
    if (myRoot !== b.issuing_root_id && (issuerChanged || myRoot === undefined)) {
      // Our leaf chains to a root that no longer issues (rotation step 4) or is gone (recovery): renew soon,
      // spread over a short window so a fleet does not arrive at once.
      const remaining = m.notAfter.getTime() - this.#now();
      const spread = Math.max(0, Math.min(remaining * 0.1, 30_000));
      this.#scheduleRenewal(m, this.#random() * spread);
    }
  }
}
