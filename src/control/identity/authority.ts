// IdentityAuthority: the control plane's CA. Issues workload leaves from CSRs (token-authenticated,
// rate limited, every refusal counted), renews its intermediate, runs root rotation as a persisted
// five-step state machine, recovers from an expired root, and can issue from a plug-in CA instead.
import { randomUUID, X509Certificate } from 'node:crypto';
import { logger } from '../../core/logger.ts';
import { Watch } from '../../core/watch.ts';
import { toError } from '../../core/errors.ts';
import {
  createIntermediate,
  createRootCa,
  issueLeaf,
  pemBody,
  loadCa,
  loadIssuer,
  DEFAULT_INTERMEDIATE_TTL_MS,
  DEFAULT_LEAF_TTL_MS,
  DEFAULT_ROOT_TTL_MS,
  type CaCertificate,
  type IssuerCa,
} from '../../identity/ca.ts';
import { makeBundle, type TrustBundle } from '../../identity/bundle.ts';
import { IdentityError } from '../../identity/errors.ts';
import { generateKeyPair, DEFAULT_LEAF_KEY_POLICY, type KeyType } from '../../identity/keys.ts';
import { materialFromPem, type IdentityMaterial } from '../../identity/material.ts';
import { controlPlaneSpiffeId, isValidTrustDomain, parseSpiffeId, type SpiffeId } from '../../identity/spiffe.ts';
import { SigningRateLimiter } from './rate-limiter.ts';
import type { CaStateStore, CaStateV1, RotationState, RotationStep, StoredRoot } from './state-store.ts';
import { WorkloadTokens } from './tokens.ts';
import { checkCsrAndIssue } from './csr-check.ts';
import { SignPool } from './sign-pool.ts';
import { loadPluginCa, pluginCaFingerprint, type PluginCaFiles } from './plugin-ca.ts';

const log = logger('control.identity');

export interface WallClock {
  /** Milliseconds since the epoch. */
  now(): number;
}
export const systemWallClock: WallClock = { now: () => Date.now() };

export interface IdentityAuthorityOptions {
  trustDomain: string;
  store: CaStateStore;
  leafTtlMs?: number;
  intermediateTtlMs?: number;
  rootTtlMs?: number;
  /** Start a root rotation when the root has less than this fraction of its life left. Default 1/3. */
  rotationThreshold?: number;
  /** Renew the issuing intermediate when it has less than this fraction of its life left. Default 1/3. */
  intermediateRenewThreshold?: number;
  /** Signatures per second (default 100), with a queue of `signQueueMax` (default 10 s worth). */
  signRatePerSec?: number;
  signQueueMax?: number;
  /** Key types accepted in CSRs. */
  leafKeyPolicy?: readonly KeyType[];
  clock?: WallClock;
  /** Issue from an intermediate supplied as files instead of the built-in root (reloaded on change). */
  pluginCa?: PluginCaFiles;
  /** How often `start()` runs `tick()` (renewals, rotation steps, plug-in reload). Default 1000 ms. */
  tickIntervalMs?: number;
  /** Worker threads that check CSRs and sign (0 = sign on the main thread, the default). */
  signWorkers?: number;
}

export interface CertifyInput {
  csrPem: string | Uint8Array;
  token: string;
  replacesSerial?: string;
  heldBundleVersion?: number;
}

export interface BundleInfo extends TrustBundle {
  /** Fingerprint of the root new leaves chain to (undefined when a plug-in CA's root is not in the bundle). */
  readonly issuingRootId: string;
}

export interface CertifyResult {
  readonly spiffeId: string;
  readonly certChainPem: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly bundle: BundleInfo;
}

/** A workload holding a SyncTrustBundle stream open. */
export interface BundleSession {
  readonly id: string;
  readonly spiffeId: string;
  readonly connectedAt: number;
  readonly ackedVersion: number;
  ack(version: number): void;
  close(): void;
}

interface LedgerEntry {
  readonly rootId: string;
  readonly notAfter: number;
}

const STEP_NUMBER: Record<RotationStep, number> = { 'add-root': 1, 'await-bundle-acks': 2, 'switch-issuer': 3, 'await-reissue': 4, 'remove-old-root': 5 };
const STEP_TEXT: Record<RotationStep, string> = {
  'add-root': 'generate the new root and add it to the trust bundle',
  'await-bundle-acks': 'wait until every connected workload has acknowledged the new bundle',
  'switch-issuer': 'switch issuing to an intermediate under the new root',
  'await-reissue': 'wait until every live leaf has been re-issued under the new root (at most one leaf lifetime)',
  'remove-old-root': 'remove the old root from the trust bundle',
};

export class IdentityAuthority {
  readonly trustDomain: string;
  readonly leafTtlMs: number;
  readonly intermediateTtlMs: number;
  readonly rootTtlMs: number;
  readonly rotationThreshold: number;
  readonly intermediateRenewThreshold: number;
  readonly mode: 'builtin' | 'plugin';
  /** The current trust bundle and issuing root; pushed to every SyncTrustBundle stream on change. */
  readonly bundle: Watch<BundleInfo>;
  /** The control plane's own serving identity (spiffe://<td>/ns/weft-system/sa/weft-control). */
  readonly serving: Watch<IdentityMaterial>;

  readonly #store: CaStateStore;
  readonly #clock: WallClock;
  readonly #limiter: SigningRateLimiter;
  readonly #keyPolicy: readonly KeyType[];
  readonly #plugin: PluginCaFiles | undefined;
  readonly #tickIntervalMs: number;
  readonly #pool: SignPool | undefined;
  #state: CaStateV1;
  #tokens: WorkloadTokens;
  #issuer: IssuerCa;
  #roots = new Map<string, CaCertificate | X509Certificate>();
  #pluginFingerprint = '';
  readonly #sessions = new Map<string, { id: string; spiffeId: string; connectedAt: number; ackedVersion: number }>();
  readonly #ledger = new Map<string, LedgerEntry>();
  readonly #startedAt: number;
  #issued = 0;
  readonly #refusals = new Map<string, number>();
  #mutex: Promise<unknown> = Promise.resolve();
  #interval: NodeJS.Timeout | undefined;
  #lastTickError: string | undefined;
  #tickPending = false;

  private constructor(options: IdentityAuthorityOptions, state: CaStateV1, issuer: IssuerCa, roots: Map<string, CaCertificate | X509Certificate>, serving: IdentityMaterial) {
    this.trustDomain = options.trustDomain;
    this.leafTtlMs = options.leafTtlMs ?? DEFAULT_LEAF_TTL_MS;
    this.intermediateTtlMs = options.intermediateTtlMs ?? DEFAULT_INTERMEDIATE_TTL_MS;
    this.rootTtlMs = options.rootTtlMs ?? DEFAULT_ROOT_TTL_MS;
    this.rotationThreshold = options.rotationThreshold ?? 1 / 3;
    this.intermediateRenewThreshold = options.intermediateRenewThreshold ?? 1 / 3;
    this.mode = options.pluginCa ? 'plugin' : 'builtin';
    this.#store = options.store;
    this.#clock = options.clock ?? systemWallClock;
    this.#limiter = new SigningRateLimiter({ ratePerSec: options.signRatePerSec ?? 100, maxQueue: options.signQueueMax });
    this.#keyPolicy = options.leafKeyPolicy ?? DEFAULT_LEAF_KEY_POLICY;
    this.#plugin = options.pluginCa;
    this.#tickIntervalMs = options.tickIntervalMs ?? 1000;
    this.#pool = options.signWorkers && options.signWorkers > 0 ? new SignPool(options.signWorkers) : undefined;
    this.#state = state;
    this.#tokens = new WorkloadTokens(state.tokenKey);
    this.#issuer = issuer;
    this.#roots = roots;
    this.#startedAt = this.#clock.now();
    this.bundle = new Watch(this.#bundleInfo());
    this.serving = new Watch(serving);
  }

  /** Loads the CA state from the store, or creates a new CA (root, intermediate, token key) on first use. */
  static async open(options: IdentityAuthorityOptions): Promise<IdentityAuthority> {
    if (!isValidTrustDomain(options.trustDomain)) throw new IdentityError('IDENTITY_SPIFFE_ID_INVALID', `invalid trust domain "${options.trustDomain}"`);
    const clock = options.clock ?? systemWallClock;
    const now = clock.now();
    let state = await options.store.load();
    if (state && state.trustDomain !== options.trustDomain) {
      throw new IdentityError(
        'IDENTITY_CA_STATE_INVALID',
        `CA state in ${options.store.describe()} is for trust domain "${state.trustDomain}", not "${options.trustDomain}"; a trust domain cannot be renamed in place`,
      );
    }
    let fresh = false;
    if (!state) {
      fresh = true;
      const tokenPair = generateKeyPair('ec-p256');
      state = {
        schema: 1,
        trustDomain: options.trustDomain,
        generation: 0,
        roots: [],
        bundleVersion: 0,
        issuer: undefined,
        tokenKey: { kid: randomUUID(), privateKeyPem: tokenPair.privateKeyPem, publicKeyPem: tokenPair.publicKeyPem },
        rotation: undefined,
        history: [],
      };
    }
    let issuer: IssuerCa;
    const roots = new Map<string, CaCertificate | X509Certificate>();
    if (options.pluginCa) {
      const plugin = await loadPluginCa(options.pluginCa);
      issuer = plugin.issuer;
      for (const r of plugin.roots) roots.set(r.id, new X509Certificate(r.pem));
      const ids = plugin.roots.map((r) => r.id);
      if (state.roots.map((r) => r.id).join() !== ids.join()) {
        state = { ...state, roots: plugin.roots.map((r) => ({ id: r.id, certPem: r.pem, createdAt: now })), bundleVersion: state.bundleVersion + 1, rotation: undefined };
        fresh = true;
      }
    } else {
      if (state.roots.every((r) => !r.keyPem)) {
        // First start (or switching back from a plug-in CA): make a root and an issuing intermediate.
        const generation = state.generation + 1;
        const root = await createRootCa({ trustDomain: options.trustDomain, ttlMs: options.rootTtlMs ?? DEFAULT_ROOT_TTL_MS, now, label: `g${generation}` });
        const inter = await createIntermediate(root, { trustDomain: options.trustDomain, ttlMs: options.intermediateTtlMs ?? DEFAULT_INTERMEDIATE_TTL_MS, now, label: `g${generation}.1` });
        state = {
          ...state,
          generation,
          roots: [{ id: root.id, certPem: root.certPem, keyPem: root.keyPem, createdAt: now }],
          bundleVersion: state.bundleVersion + 1,
          issuer: { rootId: root.id, chainPem: inter.chainPem, keyPem: inter.keyPem, createdAt: now },
          rotation: undefined,
          history: [...state.history, { at: now, event: `created root ${root.id.slice(0, 16)} (generation ${generation})` }].slice(-50),
        };
        fresh = true;
      }
      for (const r of state.roots) roots.set(r.id, r.keyPem ? await loadCa(r.certPem, r.keyPem) : new X509Certificate(r.certPem));
      const stored = state.issuer;
      if (!stored) throw new IdentityError('IDENTITY_CA_STATE_INVALID', `CA state in ${options.store.describe()} has no issuer`);
      issuer = await loadIssuer(stored.chainPem, stored.keyPem, stored.rootId);
    }
    if (fresh) await options.store.save(state);
    const serving = await makeServingMaterial(options.trustDomain, issuer, state, now, options.leafTtlMs ?? DEFAULT_LEAF_TTL_MS);
    const authority = new IdentityAuthority(options, state, issuer, roots, serving);
    if (options.pluginCa) authority.#pluginFingerprint = await pluginCaFingerprint(options.pluginCa);
    log.info({ trustDomain: options.trustDomain, mode: authority.mode, roots: state.roots.length, rotation: state.rotation?.step ?? null }, 'identity authority ready');
    return authority;
  }

  // ---------------------------------------------------------------- issuance

  /** Verifies the token and CSR and signs a leaf. Throws IdentityError with a code for every refusal. */
  async certify(input: CertifyInput): Promise<CertifyResult> {
    try {
      await this.#limiter.acquire();
      const now = this.#clock.now();
      const id = await this.#tokens.verify(input.token, now);
      if (id.trustDomain !== this.trustDomain) {
        throw new IdentityError('IDENTITY_TRUST_DOMAIN_MISMATCH', `the token is for trust domain "${id.trustDomain}", this mesh is "${this.trustDomain}"`);
      }
      const issuer = this.#issuer;
      const req = { csrPem: input.csrPem, expectedId: id.uri, trustDomain: this.trustDomain, keyPolicy: this.#keyPolicy, ttlMs: this.leafTtlMs, now };
      const leaf = this.#pool ? await this.#pool.sign(issuer, req) : await checkCsrAndIssue(issuer, req);
      this.#issued++;
      if (issuer.rootId !== undefined) this.#ledger.set(leaf.serial, { rootId: issuer.rootId, notAfter: leaf.notAfter.getTime() });
      if (input.replacesSerial) this.#ledger.delete(input.replacesSerial.toLowerCase());
      return { spiffeId: id.uri, certChainPem: leaf.chainPem, serial: leaf.serial, notBefore: leaf.notBefore, notAfter: leaf.notAfter, bundle: this.bundle.current };
    } catch (error) {
      const e = error instanceof IdentityError ? error : new IdentityError('IDENTITY_CA_UNAVAILABLE', 'signing failed', { cause: error });
      this.#refusals.set(e.code, (this.#refusals.get(e.code) ?? 0) + 1);
      // Never log the token or the CSR: only what was wrong.
      log.warn({ code: e.code, reason: e.message }, 'certificate request refused');
      throw e;
    }
  }

  /** Issues a workload token for `ns`/`sa` (what `weft identity token` prints). */
  issueToken(request: { namespace: string; serviceAccount: string; ttlMs?: number }): Promise<{ token: string; spiffeId: string; expiresAt: Date }> {
    return this.#tokens.issue({ trustDomain: this.trustDomain, ...request, now: this.#clock.now() });
  }

  /** Verifies a workload token (used by the bundle stream). */
  verifyToken(token: string): Promise<SpiffeId> {
    return this.#tokens.verify(token, this.#clock.now());
  }

  /**
   * Issues a leaf directly for a SPIFFE ID of this trust domain with a key made here (for `weft identity
   * issue`: debugging and non-mesh clients). Bypasses tokens; the caller must be trusted (CLI with the state dir).
   */
  async issueDirect(spiffeId: string, options: { ttlMs?: number; keyType?: KeyType } = {}): Promise<IdentityMaterial> {
    const id = parseSpiffeId(spiffeId);
    if (id.trustDomain !== this.trustDomain) throw new IdentityError('IDENTITY_TRUST_DOMAIN_MISMATCH', `${spiffeId} is outside trust domain "${this.trustDomain}"`);
    const pair = generateKeyPair(options.keyType ?? 'ec-p256');
    const leaf = await issueLeaf(this.#issuer, { spiffeId, publicKey: spkiDer(pair.publicKeyPem), ttlMs: options.ttlMs ?? this.leafTtlMs, now: this.#clock.now() });
    this.#issued++;
    return materialFromPem({ spiffeId, certChainPem: leaf.chainPem, keyPem: pair.privateKeyPem, trustBundlePem: this.bundle.current.pem, bundleVersion: this.bundle.current.version });
  }

  // ---------------------------------------------------------------- bundle sessions

  /** Registers a connected workload (a SyncTrustBundle stream). */
  openBundleSession(spiffeId: string): BundleSession {
    const entry = { id: randomUUID(), spiffeId, connectedAt: this.#clock.now(), ackedVersion: 0 };
    this.#sessions.set(entry.id, entry);
    const sessions = this.#sessions;
    return {
      id: entry.id,
      spiffeId,
      connectedAt: entry.connectedAt,
      get ackedVersion() {
        return entry.ackedVersion;
      },
      ack: (version: number) => {
        if (version > entry.ackedVersion) entry.ackedVersion = version;
        if (this.#state.rotation?.step === 'await-bundle-acks') this.#tickSoon();
      },
      close: () => {
        sessions.delete(entry.id);
      },
    };
  }

  get connectedWorkloads(): number {
    return this.#sessions.size;
  }

  // ---------------------------------------------------------------- lifecycle and rotation

  /** One tick on the next turn of the event loop, however many acks arrive meanwhile (a fleet acks at once). */
  #tickSoon(): void {
    if (this.#tickPending) return;
    this.#tickPending = true;
    setImmediate(() => {
      this.#tickPending = false;
      this.tick().catch(() => {});
    });
  }

  /** Runs `tick()` every `tickIntervalMs` (unref'd). */
  start(): void {
    if (this.#interval) return;
    this.#interval = setInterval(() => {
      this.tick().catch((error) => {
        const message = toError(error).message;
        if (message !== this.#lastTickError) log.error({ err: message }, 'identity tick failed');
        this.#lastTickError = message;
      });
    }, this.#tickIntervalMs);
    this.#interval.unref();
  }

  close(): void {
    if (this.#interval) clearInterval(this.#interval);
    this.#interval = undefined;
    this.#limiter.close();
    void this.#pool?.close();
  }

  /** One round of housekeeping: plug-in reload, rotation progress, automatic rotation start, intermediate and serving renewal. */
  tick(): Promise<void> {
    return this.#exclusive(async () => {
      const now = this.#clock.now();
      for (const [serial, entry] of this.#ledger) if (entry.notAfter <= now) this.#ledger.delete(serial);
      if (this.mode === 'plugin') {
        await this.#reloadPlugin();
      } else {
        await this.#advanceRotation(now);
        if (!this.#state.rotation) {
          await this.#maybeStartAutoRotation(now);
          await this.#advanceRotation(now);
        }
        if (!this.#state.rotation || this.#state.rotation.step === 'await-reissue') await this.#maybeRenewIntermediate(now);
      }
      await this.#maybeRenewServing(now);
    });
  }

  /** Starts a root rotation now (`weft identity rotate-root`). Refused when one is in progress or with a plug-in CA. */
  rotateRoot(): Promise<IdentityStatus> {
    return this.#exclusive(async () => {
      if (this.mode === 'plugin') throw new IdentityError('IDENTITY_CA_UNAVAILABLE', 'root rotation is managed by the external CA when a plug-in CA is configured');
      if (this.#state.rotation) {
        throw new IdentityError('IDENTITY_CA_UNAVAILABLE', `a root rotation is already in progress (step ${STEP_NUMBER[this.#state.rotation.step]}: ${this.#state.rotation.step})`);
      }
      await this.#startRotation('manual', this.#clock.now());
      await this.#advanceRotation(this.#clock.now());
      return this.status();
    });
  }

  /**
   * Recovery when the root has already expired (or `force`): issue a new root and intermediate, make the
   * bundle hold only the new root, drop any rotation. Workloads re-enrol with their workload token.
   */
  recover(options: { force?: boolean } = {}): Promise<IdentityStatus> {
    return this.#exclusive(async () => {
      if (this.mode === 'plugin') throw new IdentityError('IDENTITY_CA_UNAVAILABLE', 'recovery is done at the external CA when a plug-in CA is configured: replace the files');
      const now = this.#clock.now();
      const active = this.#roots.get(this.#issuer.rootId ?? '');
      const activeExpired = active === undefined || rootNotAfter(active) <= now || this.#issuer.notAfter.getTime() <= now;
      if (!activeExpired && !options.force) {
        throw new IdentityError('IDENTITY_CA_UNAVAILABLE', 'the issuing root has not expired; use `weft identity rotate-root` for a rotation without outage (or --force to recover anyway)');
      }
      const { root, inter, generation } = await this.#newRootAndIntermediate(now);
      this.#roots = new Map([[root.id, root]]);
      this.#issuer = inter;
      this.#ledger.clear();
      await this.#save({
        ...this.#state,
        generation,
        roots: [{ id: root.id, certPem: root.certPem, keyPem: root.keyPem, createdAt: now }],
        bundleVersion: this.#state.bundleVersion + 1,
        issuer: { rootId: root.id, chainPem: inter.chainPem, keyPem: inter.keyPem, createdAt: now },
        rotation: undefined,
        history: [...this.#state.history, { at: now, event: `recovered: new root ${root.id.slice(0, 16)} replaced expired roots` }].slice(-50),
      });
      log.warn({ root: root.id }, 'identity recovered with a new root; workloads re-enrol with their workload tokens');
      await this.#renewServing(now);
      return this.status();
    });
  }

  async #startRotation(reason: 'auto' | 'manual', now: number): Promise<void> {
    const oldRootId = this.#issuer.rootId!;
    const rotation: RotationState = { step: 'add-root', oldRootId, reason, startedAt: now, stepStartedAt: now };
    await this.#save({ ...this.#state, rotation, history: [...this.#state.history, { at: now, event: `rotation started (${reason})` }].slice(-50) });
    log.info({ reason, oldRoot: oldRootId }, 'root rotation started');
  }

  async #maybeStartAutoRotation(now: number): Promise<void> {
    const active = this.#roots.get(this.#issuer.rootId ?? '');
    if (!active) return;
    // Life is measured from when the root was made (its notBefore is backdated for clock skew).
    const stored = this.#state.roots.find((r) => r.id === this.#issuer.rootId);
    const nb = stored?.createdAt ?? rootNotBefore(active);
    const na = rootNotAfter(active);
    if (na <= now) return; // expired: only `recover` helps
    if (na - now < this.rotationThreshold * (na - nb)) await this.#startRotation('auto', now);
  }

  /** Performs every step that can complete now; stops at a step that must wait. Each transition is persisted. */
  async #advanceRotation(now: number): Promise<void> {
    for (;;) {
      const r = this.#state.rotation;
      if (!r) return;
      const next = await this.#runStep(r, now);
      if (next === r) return;
      const history = [...this.#state.history, { at: now, event: next ? `rotation step ${STEP_NUMBER[r.step]} done → step ${STEP_NUMBER[next.step]}` : 'rotation complete: old root removed' }].slice(-50);
      await this.#save({ ...this.#state, rotation: next, history });
      log.info({ done: r.step, next: next?.step ?? 'idle' }, 'root rotation step');
    }
  }

  async #runStep(r: RotationState, now: number): Promise<RotationState | undefined> {
    switch (r.step) {
      case 'add-root': {
        const generation = this.#state.generation + 1;
        const root = await createRootCa({ trustDomain: this.trustDomain, ttlMs: this.rootTtlMs, now, label: `g${generation}` });
        this.#roots.set(root.id, root);
        const bundleVersion = this.#state.bundleVersion + 1;
        this.#state = {
          ...this.#state,
          generation,
          roots: [...this.#state.roots, { id: root.id, certPem: root.certPem, keyPem: root.keyPem, createdAt: now }],
          bundleVersion,
        };
        this.#publishBundle();
        return { ...r, step: 'await-bundle-acks', newRootId: root.id, bundleVersionWithNewRoot: bundleVersion, stepStartedAt: now };
      }
      case 'await-bundle-acks': {
        const target = r.bundleVersionWithNewRoot ?? this.#state.bundleVersion;
        for (const s of this.#sessions.values()) if (s.ackedVersion < target) return r;
        return { ...r, step: 'switch-issuer', stepStartedAt: now };
      }
      case 'switch-issuer': {
        const root = this.#roots.get(r.newRootId ?? '');
        if (!root || !('key' in root)) throw new IdentityError('IDENTITY_CA_STATE_INVALID', 'rotation: the new root is missing from the CA state');
        const inter = await createIntermediate(root, { trustDomain: this.trustDomain, ttlMs: this.intermediateTtlMs, now, label: `g${this.#state.generation}.1` });
        this.#issuer = inter;
        this.#state = { ...this.#state, issuer: { rootId: root.id, chainPem: inter.chainPem, keyPem: inter.keyPem, createdAt: now } };
        this.#publishBundle();
        await this.#renewServing(now);
        return { ...r, step: 'await-reissue', stepStartedAt: now };
      }
      case 'await-reissue': {
        if (now - r.stepStartedAt >= this.leafTtlMs) return { ...r, step: 'remove-old-root', stepStartedAt: now };
        // The in-memory ledger only knows leaves this process issued: trust it once every leaf from an
        // earlier process must have expired (uptime >= one leaf lifetime).
        if (now - this.#startedAt < this.leafTtlMs) return r;
        if (this.#liveLeavesUnder(r.oldRootId, now) > 0) return r;
        return { ...r, step: 'remove-old-root', stepStartedAt: now };
      }
      case 'remove-old-root': {
        this.#roots.delete(r.oldRootId);
        this.#state = { ...this.#state, roots: this.#state.roots.filter((x) => x.id !== r.oldRootId), bundleVersion: this.#state.bundleVersion + 1 };
        this.#publishBundle();
        return undefined;
      }
    }
  }

  #liveLeavesUnder(rootId: string, now: number): number {
    let n = 0;
    for (const e of this.#ledger.values()) if (e.rootId === rootId && e.notAfter > now) n++;
    return n;
  }

  async #maybeRenewIntermediate(now: number): Promise<void> {
    const issuer = this.#issuer;
    const root = this.#roots.get(issuer.rootId ?? '');
    if (!root || !('key' in root)) return;
    const remaining = issuer.notAfter.getTime() - now;
    const possible = Math.min(now + this.intermediateTtlMs, root.notAfter.getTime());
    const gain = possible - issuer.notAfter.getTime();
    if (remaining >= this.intermediateTtlMs * this.intermediateRenewThreshold || gain <= this.leafTtlMs / 10) return;
    const inter = await createIntermediate(root, { trustDomain: this.trustDomain, ttlMs: this.intermediateTtlMs, now, label: `g${this.#state.generation}.${now}` });
    this.#issuer = inter;
    await this.#save({
      ...this.#state,
      issuer: { rootId: root.id, chainPem: inter.chainPem, keyPem: inter.keyPem, createdAt: now },
      history: [...this.#state.history, { at: now, event: `intermediate renewed (expires ${inter.notAfter.toISOString()})` }].slice(-50),
    });
    log.info({ notAfter: inter.notAfter.toISOString() }, 'issuing intermediate renewed');
  }

  async #maybeRenewServing(now: number): Promise<void> {
    const cur = this.serving.current;
    const half = cur.notBefore.getTime() + (cur.notAfter.getTime() - cur.notBefore.getTime()) / 2;
    if (now >= half || !cur.certChainPem.includes(this.#issuer.certPem.trim()) || cur.trustBundlePem !== this.bundle.current.pem) await this.#renewServing(now);
  }

  async #renewServing(now: number): Promise<void> {
    this.serving.set(await makeServingMaterial(this.trustDomain, this.#issuer, this.#state, now, this.leafTtlMs));
  }

  async #reloadPlugin(): Promise<void> {
    const files = this.#plugin!;
    const fp = await pluginCaFingerprint(files);
    if (fp === this.#pluginFingerprint) return;
    let loaded;
    try {
      loaded = await loadPluginCa(files);
    } catch (error) {
      // Keep issuing from the last good CA; files may be mid-replacement.
      this.#refusals.set('IDENTITY_PLUGIN_CA_INVALID', (this.#refusals.get('IDENTITY_PLUGIN_CA_INVALID') ?? 0) + 1);
      log.error({ err: toError(error).message }, 'plug-in CA files changed but cannot be loaded; still issuing from the previous CA');
      this.#pluginFingerprint = fp;
      return;
    }
    this.#pluginFingerprint = fp;
    this.#issuer = loaded.issuer;
    this.#roots = new Map(loaded.roots.map((r) => [r.id, new X509Certificate(r.pem)]));
    const now = this.#clock.now();
    const sameRoots = this.#state.roots.map((r) => r.id).join() === loaded.roots.map((r) => r.id).join();
    await this.#save({
      ...this.#state,
      roots: loaded.roots.map((r) => ({ id: r.id, certPem: r.pem, createdAt: now })),
      bundleVersion: sameRoots ? this.#state.bundleVersion : this.#state.bundleVersion + 1,
      history: [...this.#state.history, { at: now, event: `plug-in CA reloaded (issuer ${loaded.issuer.subject})` }].slice(-50),
    });
    log.info({ issuer: loaded.issuer.subject }, 'plug-in CA reloaded');
    await this.#renewServing(now);
  }

  async #newRootAndIntermediate(now: number): Promise<{ root: CaCertificate; inter: IssuerCa; generation: number }> {
    const generation = this.#state.generation + 1;
    const root = await createRootCa({ trustDomain: this.trustDomain, ttlMs: this.rootTtlMs, now, label: `g${generation}` });
    const inter = await createIntermediate(root, { trustDomain: this.trustDomain, ttlMs: this.intermediateTtlMs, now, label: `g${generation}.1` });
    return { root, inter, generation };
  }

  async #save(state: CaStateV1): Promise<void> {
    const bundleChanged = state.bundleVersion !== this.#state.bundleVersion || state.issuer?.rootId !== this.#state.issuer?.rootId;
    await this.#store.save(state);
    this.#state = state;
    if (bundleChanged) this.#publishBundle();
  }

  #publishBundle(): void {
    const next = this.#bundleInfo();
    const cur = this.bundle.current;
    if (cur && cur.version === next.version && cur.issuingRootId === next.issuingRootId && cur.pem === next.pem) return;
    this.bundle.set(next);
  }

  #bundleInfo(): BundleInfo {
    const b = makeBundle(this.#state.bundleVersion, this.#state.roots.map((r) => r.certPem));
    return { ...b, issuingRootId: this.#issuer.rootId ?? '' };
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#mutex.then(fn, fn);
    this.#mutex = run.catch(() => {});
    return run;
  }

  // ---------------------------------------------------------------- observability

  status(): IdentityStatus {
    const now = this.#clock.now();
    const r = this.#state.rotation;
    const target = r?.bundleVersionWithNewRoot ?? 0;
    const roots = this.#state.roots.map((s: StoredRoot) => {
      const cert = this.#roots.get(s.id);
      const nb = cert ? rootNotBefore(cert) : 0;
      const na = cert ? rootNotAfter(cert) : 0;
      return {
        id: s.id,
        subject: cert ? rootSubject(cert) : '',
        notBefore: new Date(nb).toISOString(),
        notAfter: new Date(na).toISOString(),
        expiresInSeconds: Math.round((na - now) / 1000),
        expired: na <= now,
        issuing: s.id === this.#issuer.rootId,
        role: (r?.oldRootId === s.id ? 'old' : r?.newRootId === s.id ? 'new' : 'active') as 'old' | 'new' | 'active',
      };
    });
    return {
      trustDomain: this.trustDomain,
      mode: this.mode,
      roots,
      bundleVersion: this.#state.bundleVersion,
      issuer: { subject: this.#issuer.subject, rootId: this.#issuer.rootId ?? null, notAfter: this.#issuer.notAfter.toISOString(), expiresInSeconds: Math.round((this.#issuer.notAfter.getTime() - now) / 1000) },
      lifetimes: { leafSeconds: this.leafTtlMs / 1000, intermediateSeconds: this.intermediateTtlMs / 1000, rootSeconds: this.rootTtlMs / 1000, rotationThreshold: this.rotationThreshold },
      rotation: r
        ? {
            step: STEP_NUMBER[r.step],
            name: r.step,
            description: STEP_TEXT[r.step],
            reason: r.reason,
            oldRootId: r.oldRootId,
            newRootId: r.newRootId ?? null,
            startedAt: new Date(r.startedAt).toISOString(),
            stepStartedAt: new Date(r.stepStartedAt).toISOString(),
            ...this.#laggards(r.step === 'await-bundle-acks' ? target : 0),
            liveLeavesUnderOldRoot: this.#liveLeavesUnder(r.oldRootId, now),
          }
        : null,
      certificatesIssued: this.#issued,
      refusals: Object.fromEntries(this.#refusals),
      connectedWorkloads: this.#sessions.size,
      signQueue: this.#limiter.queued,
      signRatePerSec: this.#limiter.ratePerSec,
      signWorkers: this.#pool?.size ?? 0,
      history: this.#state.history.slice(-10).map((h) => ({ at: new Date(h.at).toISOString(), event: h.event })),
    };
  }

  /** Connected workloads that have not acked `target` (first 20 IDs, and how many in all). */
  #laggards(target: number): { workloadsWithoutNewBundle: string[]; workloadsWithoutNewBundleCount: number } {
    const ids: string[] = [];
    let count = 0;
    if (target > 0) {
      for (const s of this.#sessions.values()) {
        if (s.ackedVersion >= target) continue;
        count++;
        if (ids.length < 20) ids.push(s.spiffeId);
      }
    }
    return { workloadsWithoutNewBundle: ids, workloadsWithoutNewBundleCount: count };
  }

  /** Prometheus text exposition lines of the identity service. */
  metrics(): string {
    const now = this.#clock.now();
    const lines = [
      '# HELP weft_identity_certificates_issued_total Workload certificates signed.',
      '# TYPE weft_identity_certificates_issued_total counter',
      `weft_identity_certificates_issued_total ${this.#issued}`,
      '# HELP weft_identity_refusals_total Certificate requests refused, by reason.',
      '# TYPE weft_identity_refusals_total counter',
      ...[...this.#refusals].map(([code, n]) => `weft_identity_refusals_total{code="${code}"} ${n}`),
      '# HELP weft_identity_root_expiry_seconds Seconds until each trusted root expires.',
      '# TYPE weft_identity_root_expiry_seconds gauge',
      ...[...this.#roots].map(([id, c]) => `weft_identity_root_expiry_seconds{root="${id.slice(0, 16)}"} ${Math.round((rootNotAfter(c) - now) / 1000)}`),
      '# HELP weft_identity_rotation_step Current root rotation step (0 = none).',
      '# TYPE weft_identity_rotation_step gauge',
      `weft_identity_rotation_step ${this.#state.rotation ? STEP_NUMBER[this.#state.rotation.step] : 0}`,
      '# HELP weft_identity_connected_workloads Workloads holding a trust bundle stream.',
      '# TYPE weft_identity_connected_workloads gauge',
      `weft_identity_connected_workloads ${this.#sessions.size}`,
      '# HELP weft_identity_sign_queue Requests waiting for the signing rate limit.',
      '# TYPE weft_identity_sign_queue gauge',
      `weft_identity_sign_queue ${this.#limiter.queued}`,
    ];
    return lines.join('\n') + '\n';
  }
}

export interface IdentityStatus {
  trustDomain: string;
  mode: 'builtin' | 'plugin';
  roots: Array<{ id: string; subject: string; notBefore: string; notAfter: string; expiresInSeconds: number; expired: boolean; issuing: boolean; role: 'old' | 'new' | 'active' }>;
  bundleVersion: number;
  issuer: { subject: string; rootId: string | null; notAfter: string; expiresInSeconds: number };
  lifetimes: { leafSeconds: number; intermediateSeconds: number; rootSeconds: number; rotationThreshold: number };
  rotation: null | {
    step: number;
    name: RotationStep;
    description: string;
    reason: 'auto' | 'manual';
    oldRootId: string;
    newRootId: string | null;
    startedAt: string;
    stepStartedAt: string;
    /** Up to 20 connected workloads still missing the new bundle (step 2). */
    workloadsWithoutNewBundle: string[];
    workloadsWithoutNewBundleCount: number;
    liveLeavesUnderOldRoot: number;
  };
  certificatesIssued: number;
  refusals: Record<string, number>;
  connectedWorkloads: number;
  signQueue: number;
  signRatePerSec: number;
  /** Worker threads that check CSRs and sign (0: the main thread does). */
  signWorkers: number;
  history: Array<{ at: string; event: string }>;
}

function rootNotAfter(c: CaCertificate | X509Certificate): number {
  return c instanceof X509Certificate ? new Date(c.validTo).getTime() : c.notAfter.getTime();
}
function rootNotBefore(c: CaCertificate | X509Certificate): number {
  return c instanceof X509Certificate ? new Date(c.validFrom).getTime() : c.notBefore.getTime();
}
function rootSubject(c: CaCertificate | X509Certificate): string {
  return c instanceof X509Certificate ? c.subject.replaceAll('\n', ', ') : c.subject;
}

/** SPKI DER of a PEM public key made in this process. */
function spkiDer(publicKeyPem: string): Uint8Array {
  const der = pemBody(publicKeyPem, 'PUBLIC KEY');
  if (der === undefined) throw new IdentityError('IDENTITY_CA_UNAVAILABLE', 'a generated public key is not PEM SPKI');
  return new Uint8Array(der);
}

async function makeServingMaterial(trustDomain: string, issuer: IssuerCa, state: CaStateV1, now: number, leafTtlMs: number): Promise<IdentityMaterial> {
  const spiffeId = controlPlaneSpiffeId(trustDomain);
  const pair = generateKeyPair('ec-p256');
  const leaf = await issueLeaf(issuer, { spiffeId, publicKey: spkiDer(pair.publicKeyPem), ttlMs: leafTtlMs, now });
  const bundle = makeBundle(state.bundleVersion, state.roots.map((r) => r.certPem));
  return materialFromPem({ spiffeId, certChainPem: leaf.chainPem, keyPem: pair.privateKeyPem, trustBundlePem: bundle.pem, bundleVersion: bundle.version });
}

