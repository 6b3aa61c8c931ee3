// The control-plane process, composed: store (files or injected) → registry → push (compiler) → ADS
// server, plus the identity service, on one TLS gRPC port (default 15010); and the admin HTTP API
// on 127.0.0.1 (default 15014). Proxies authenticate their xDS stream with their workload
// certificate; the SPIFFE ID must match the service account they claim.
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { logger } from '../core/logger.ts';
import { WeftError } from '../core/errors.ts';
import type { MeshConfig } from '../config/types.ts';
import { MetricsRegistry } from '../telemetry/metrics.ts';
import { addAdsService, SnapshotCache, type AdsNack, type AdsServer, type AdsStreamInfo } from '../xds/server.ts';
import { IdentityAuthority, type IdentityAuthorityOptions } from './identity/authority.ts';
import { FileCaStateStore, MemoryCaStateStore } from './identity/state-store.ts';
import { addIdentityService, identityServerCredentials } from './identity/service.ts';
import { identityAdminRoutes } from './identity/admin.ts';
import { identityOptionsFromMesh } from './identity/mesh-options.ts';
import type { Store } from './store/store.ts';
import { FilesStore } from './store/store-files.ts';
import { meshConfigValidator } from './config-validator.ts';
import { Registry } from './registry.ts';
import { readNodeClaims } from './node-metadata.ts';
import { PushController } from './push.ts';
import { controlAdminRoutes, serveAdminRoutes, TYPE_SHORT, type AdminContext } from './admin.ts';

const log = logger('control.server');

export interface ControlPlaneOptions {
  /** Directory of YAML resources (the files store). Ignored when `store` is given. */
  readonly configDir?: string;
  /** A store to use instead of the files store (tests: MemoryStore). */
  readonly store?: Store<MeshConfig>;
  /** Where the CA keeps its state (file mode 0600). Without it the CA lives in memory. */
  readonly stateDir?: string;
  /** Address the xDS/identity port binds to. Default 0.0.0.0, or 127.0.0.1 when `insecure` (plaintext never leaves the host unless asked). */
  readonly host?: string;
  /** Default 15010; 0 = any. */
  readonly xdsPort?: number;
  /** Default 15014; 0 = any; false = no admin server. Always bound to 127.0.0.1 unless adminHost says otherwise. */
  readonly adminPort?: number | false;
  readonly adminHost?: string;
  /** Plaintext xDS without the identity service and without client certificates (tests, benchmarks). */
  readonly insecure?: boolean;
  /** Grace period before a disconnected proxy's endpoints are removed. Default 10 s. */
  readonly graceMs?: number;
  readonly debounceMs?: number;
  readonly maxDelayMs?: number;
  /**
   * Start-up warm-up: proxies connecting in this window get their first snapshot only when it ends, so a
   * restarted control plane (whose endpoints come from reconnecting proxies) does not push empty endpoint
   * sets to the first callers back. Default 0.
   */
  readonly warmupMs?: number;
  /** Extra IdentityAuthority options (lifetimes, clock…); the trust domain comes from the Mesh resource. */
  readonly identity?: Partial<Omit<IdentityAuthorityOptions, 'store' | 'trustDomain'>>;
  /** grpc.Server options (e.g. max concurrent streams). */
  readonly grpcOptions?: grpc.ServerOptions;
}

export interface ControlPlane {
  /** host:port of the xDS + identity gRPC port. */
  readonly xdsTarget: string;
  readonly xdsPort: number;
  readonly adminUrl: string | undefined;
  readonly authority: IdentityAuthority | undefined;
  readonly store: Store<MeshConfig>;
  readonly registry: Registry;
  readonly push: PushController;
  readonly ads: AdsServer;
  readonly cache: SnapshotCache;
  readonly metrics: MetricsRegistry;
  readonly trustDomain: string;
  /** Recent NACKs, newest last (at most 100). */
  nacks(): readonly (AdsNack & { node: string })[];
  close(): Promise<void>;
}

export class ControlPlaneError extends WeftError {
  constructor(code: 'CONTROL_NO_CONFIG' | 'CONTROL_BIND_FAILED', message: string, cause?: unknown) {
    super(code, message, cause === undefined ? {} : { cause });
  }
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const store: Store<MeshConfig> =
    options.store ??
    (() => {
      if (!options.configDir) throw new ControlPlaneError('CONTROL_NO_CONFIG', 'startControlPlane needs configDir (a directory of YAML resources) or a store');
      return new FilesStore<MeshConfig>({ dir: options.configDir, validate: meshConfigValidator });
    })();
  const first = await store.start();
  const trustDomain = first.config.mesh.trustDomain;

  const metrics = new MetricsRegistry();
  const mConnected = metrics.gauge({ name: 'weft_control_connected_proxies', help: 'xDS streams open.' });
  const mPushes = metrics.counter({ name: 'weft_control_xds_pushes_total', help: 'xDS responses sent, by type.', labelNames: ['type'] });
  const mNacks = metrics.counter({ name: 'weft_control_xds_nacks_total', help: 'xDS responses refused by a proxy, by type.', labelNames: ['type'] });
  const mAckLatency = metrics.histogram({ name: 'weft_control_xds_ack_seconds', help: 'Time from sending an xDS response to its ACK.', labelNames: ['type'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 5] });
  const mConfigRejected = metrics.counter({ name: 'weft_control_config_rejected_total', help: 'Config changes refused by validation (the last good config stayed).' });
  const mConfigRevision = metrics.gauge({ name: 'weft_control_config_revision', help: 'Revision of the config in force.' });

  let authority: IdentityAuthority | undefined;
  if (!options.insecure) {
    const store = options.stateDir ? new FileCaStateStore(options.stateDir) : new MemoryCaStateStore();
    authority = await IdentityAuthority.open({ ...identityOptionsFromMesh(first.config.mesh), ...(options.identity ?? {}), trustDomain, store });
    authority.start();
  }

  const registry = new Registry({ graceMs: options.graceMs, requireIdentity: !options.insecure });
  const cache = new SnapshotCache();
  const push = new PushController({ cache, debounceMs: options.debounceMs, maxDelayMs: options.maxDelayMs, warmupMs: options.warmupMs, metrics });
  registry.setStatic(first.config.workloads.values(), trustDomain);
  push.update({ config: first.config, workloads: registry.view.current.workloads, trustBundlePem: authority?.bundle.current.pem ?? '' });
  mConfigRevision.set(undefined, first.revision);

  const unsubs: (() => void)[] = [];
  unsubs.push(
    store.snapshot.subscribe((s) => {
      if (!s) return;
      if (s.config.mesh.trustDomain !== trustDomain) log.error({ configured: s.config.mesh.trustDomain, running: trustDomain }, 'the trust domain cannot change while running; restart the control plane');
      registry.setStatic(s.config.workloads.values(), trustDomain);
      push.update({ config: s.config });
      mConfigRevision.set(undefined, s.revision);
    }),
    store.rejection.subscribe((r) => {
      if (r) mConfigRejected.inc();
    }),
    registry.view.subscribe((v) => push.update({ workloads: v.workloads })),
  );
  if (authority) unsubs.push(authority.bundle.subscribe((b) => push.update({ trustBundlePem: b.pem })));

  const nackLog: (AdsNack & { node: string })[] = [];
  const sentAt = new Map<string, number>();
  const server = new grpc.Server({ 'grpc.max_concurrent_streams': 100_000, ...(options.grpcOptions ?? {}) });
  const ads = addAdsService(
    server,
    cache,
    {
      authorize(info: AdsStreamInfo) {
        const claims = readNodeClaims(info.node);
        const host = /^(?:ipv4:)?([\d.]+):\d+$/.exec(info.peer)?.[1];
        registry.connect(claims, info.spiffeId, trustDomain, host);
      },
      onStreamOpen(info) {
        mConnected.set(undefined, ads.streams().length);
        push.connect(info.node.id, readNodeClaims(info.node));
        log.info({ node: info.node.id, stream: info.id, mode: info.mode, spiffeId: info.spiffeId }, 'proxy connected');
      },
      onStreamClose(info, reason) {
        registry.disconnect(info.node.id);
        push.disconnect(info.node.id);
        mConnected.set(undefined, Math.max(0, ads.streams().length));
        log.info({ node: info.node.id, stream: info.id, reason }, 'proxy disconnected');
      },
      onPush(info, p) {
        mPushes.inc({ type: TYPE_SHORT[p.typeUrl] ?? 'other' });
        sentAt.set(`${info.id}|${p.nonce}`, performance.now());
        if (sentAt.size > 100_000) sentAt.clear();
      },
      onAck(info, a) {
        const k = `${info.id}|${a.nonce}`;
        const t = sentAt.get(k);
        if (t !== undefined) {
          sentAt.delete(k);
          mAckLatency.observe({ type: TYPE_SHORT[a.typeUrl] ?? 'other' }, (performance.now() - t) / 1000);
        }
      },
      onNack(info, nack) {
        mNacks.inc({ type: TYPE_SHORT[nack.typeUrl] ?? 'other' });
        nackLog.push({ ...nack, node: info.node.id });
        if (nackLog.length > 100) nackLog.shift();
        log.warn({ node: info.node.id, type: TYPE_SHORT[nack.typeUrl], version: nack.rejectedVersion, error: nack.message }, 'proxy refused config (NACK); that version will not be resent');
      },
    },
    { controlPlaneId: 'weft-control' },
  );
  if (authority) addIdentityService(server, authority);
  const host = options.host ?? (options.insecure ? '127.0.0.1' : '0.0.0.0');
  const creds = authority ? identityServerCredentials(authority) : grpc.ServerCredentials.createInsecure();
  let xdsPort: number;
  try {
    xdsPort = await new Promise<number>((resolve, reject) => server.bindAsync(`${host}:${options.xdsPort ?? 15010}`, creds, (e, p) => (e ? reject(e) : resolve(p))));
  } catch (error) {
    await store.close();
    authority?.close();
    throw new ControlPlaneError('CONTROL_BIND_FAILED', `cannot bind the xDS port ${host}:${options.xdsPort ?? 15010}: ${(error as Error).message}`, error);
  }

  const ctx: AdminContext = {
    store,
    registry,
    push,
    ads,
    cache,
    metrics,
    nacks: () => nackLog,
    ...(authority ? { extraRoutes: identityAdminRoutes(authority) as AdminContext["extraRoutes"], extraMetrics: () => authority!.metrics() } : {}),
  };
  let admin: http.Server | undefined;
  let adminUrl: string | undefined;
  const adminPort = options.adminPort;
  if (adminPort !== false) {
    const adminHost = options.adminHost ?? '127.0.0.1';
    // Bound elsewhere than loopback on purpose: requests naming that address are answered too.
    const a = serveAdminRoutes(controlAdminRoutes(ctx), ctx.extraRoutes, { allowedHosts: [adminHost] });
    await new Promise<void>((resolve, reject) => {
      a.once('error', reject);
      a.listen(adminPort ?? 15014, adminHost, () => resolve());
    });
    admin = a;
    adminUrl = `http://${adminHost}:${(a.address() as AddressInfo).port}`;
  }
  const xdsHost = host === '0.0.0.0' ? '127.0.0.1' : host;
  log.info({ xds: `${host}:${xdsPort}`, admin: adminUrl, trustDomain, store: store.kind, revision: first.revision }, 'control plane ready');

  return {
    xdsTarget: `${xdsHost}:${xdsPort}`,
    xdsPort,
    adminUrl,
    authority,
    store,
    registry,
    push,
    ads,
    cache,
    metrics,
    trustDomain,
    nacks: () => nackLog,
    async close() {
      for (const u of unsubs) u();
      push.close();
      registry.close();
      ads.closeAll();
      server.forceShutdown();
      authority?.close();
      await store.close();
      if (admin) {
        admin.closeAllConnections();
        await new Promise((r) => admin!.close(r));
      }
    },
  };
}
