// Builders for mesh end-to-end tests: a weft proxy configured only through xDS from a control plane
// (its workload certificate from the control plane's CA; listeners bound before the inbound port is
// announced), a tiny HTTP app that answers its name, and the two-version catalog mesh routing tests use.
import net from 'node:net';
import http from 'node:http';
import { WeftProxy } from '../../src/proxy/proxy.ts';
import { XdsProxyConfig } from '../../src/proxy/xds/xds-config.ts';
import type { ProxyConfigSpec } from '../../src/proxy/runtime/spec.ts';
import type { IdentityMaterial } from '../../src/identity/material.ts';
import { Watch } from '../../src/core/watch.ts';
import { compileSnapshot, type RuntimeSnapshot } from '../../src/proxy/runtime/snapshot.ts';
import type { ControlPlane } from '../../src/control/server.ts';
import { workloadIdentity } from './control-plane.ts';
import { DEFAULT_WAIT_MS } from './wait.ts';

export interface MeshProxy {
  readonly proxy: WeftProxy;
  readonly xds: XdsProxyConfig;
  readonly outboundPort: number | undefined;
  readonly inboundPort: number | undefined;
  close(): Promise<void>;
}

export interface MeshProxyOptions {
  /** host:port of the control plane's xDS port. */
  readonly xdsTarget: string;
  readonly trustDomain: string;
  readonly identity: IdentityMaterial;
  readonly nodeId: string;
  readonly namespace?: string;
  /** The workload's service (omit for a client-only proxy). */
  readonly service?: string;
  readonly serviceAccount: string;
  /** Application port served behind this proxy (with an inbound mTLS listener). */
  readonly appPort?: number;
  readonly upstreams?: readonly string[];
  readonly mode?: 'delta' | 'sotw';
}

/**
 * Starts a proxy whose services, routes and clusters arrive only through xDS. Like `weft proxy
 * --control`, it binds its listeners first (inbound on port 0, from the local spec with no services)
 * and announces the port it got, so no port is probed and re-bound later.
 */
export async function meshProxy(o: MeshProxyOptions): Promise<MeshProxy> {
  const namespace = o.namespace ?? 'default';
  const identity = new Watch<IdentityMaterial | undefined>(o.identity);
  const base = (): ProxyConfigSpec => {
    const m = identity.current!;
    return {
      workload: {
        name: o.service ?? o.nodeId,
        namespace,
        trustDomain: o.trustDomain,
        identity: { certChainPem: m.certChainPem, keyPem: m.keyPem, trustBundlePem: m.trustBundlePem },
        inbound: { mtlsMode: 'STRICT', ports: o.appPort !== undefined ? [{ port: o.appPort, protocol: 'http1' }] : [] },
      },
      listeners: {
        outbound: { address: '127.0.0.1', port: 0 },
        inbound: o.appPort !== undefined ? { address: '127.0.0.1', port: 0 } : null,
        admin: null,
      },
    };
  };
  const local = compileSnapshot(base());
  if (!local.ok) throw local.error;
  const snapshots = new Watch<RuntimeSnapshot>(local.value);
  const proxy = await WeftProxy.start({ snapshot: snapshots, identity });
  const inboundPort = proxy.addresses.inbound?.port;
  const xds = new XdsProxyConfig({
    target: o.xdsTarget,
    tls: () => ({ caPem: identity.current!.trustBundlePem, certChainPem: identity.current!.certChainPem, keyPem: identity.current!.keyPem, serverSpiffeId: `spiffe://${o.trustDomain}/ns/weft-system/sa/weft-control` }),
    nodeId: o.nodeId,
    announce: {
      service: o.service,
      namespace,
      serviceAccount: o.serviceAccount,
      address: '127.0.0.1',
      ports: o.appPort !== undefined ? [{ name: 'http', port: o.appPort }] : [],
      inboundPort,
      upstreams: o.upstreams,
    },
    base,
    mode: o.mode,
    backoff: { initialMs: 50, maxMs: 500, jitter: 0.2 },
  });
  const stopForwarding = xds.snapshots.subscribe((s) => {
    if (s) snapshots.set(s);
  });
  xds.start();
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error(`proxy ${o.nodeId}: no xDS config within ${DEFAULT_WAIT_MS} ms (last error: ${xds.client.state.current.lastError})`)), DEFAULT_WAIT_MS);
  try {
    await xds.ready(ac.signal);
  } catch (error) {
    stopForwarding();
    xds.stop();
    await proxy.close();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return {
    proxy,
    xds,
    outboundPort: proxy.addresses.outbound?.port,
    inboundPort,
    close: async () => {
      stopForwarding();
      xds.stop();
      await proxy.close();
    },
  };
}

/** An HTTP app answering `name` (and counting requests). */
export async function namedApp(name: string): Promise<{ port: number; hits: number; close(): Promise<void> }> {
  const state = { port: 0, hits: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    state.hits++;
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain', 'x-app': name }).end(name));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as net.AddressInfo).port;
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/** GET through a proxy's outbound listener with a Host header; resolves status and body. */
export function viaProxy(outboundPort: number, host: string, path = '/', headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: outboundPort, path, headers: { host, ...headers }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export interface CatalogMesh {
  /** The apps answering `v1` and `v2`. */
  readonly v1: Awaited<ReturnType<typeof namedApp>>;
  readonly v2: Awaited<ReturnType<typeof namedApp>>;
  /** The proxies of `catalog` (v1), `catalog-v2` (v2) and `web` (calls catalog only). */
  readonly catalog: MeshProxy;
  readonly catalogV2: MeshProxy;
  readonly web: MeshProxy;
  close(): Promise<void>;
}

/**
 * The mesh most routing tests need, configured only through `cp`: services `catalog` and `catalog-v2`
 * (their apps answer `v1` and `v2`, both with service account `catalog`) and `web`, whose proxy calls
 * catalog. The config (Services, routes) is the caller's.
 */
export async function catalogMesh(cp: ControlPlane, o: { catalogV2Mode?: 'sotw' | 'delta' } = {}): Promise<CatalogMesh> {
  const v1 = await namedApp('v1');
  const v2 = await namedApp('v2');
  const td = cp.trustDomain;
  const [catalogId, catalog2Id, webId] = await Promise.all([workloadIdentity(cp, 'default', 'catalog'), workloadIdentity(cp, 'default', 'catalog'), workloadIdentity(cp, 'default', 'web')]);
  const catalog = await meshProxy({ xdsTarget: cp.xdsTarget, trustDomain: td, identity: catalogId, nodeId: 'catalog-1', service: 'catalog', serviceAccount: 'catalog', appPort: v1.port });
  const catalogV2 = await meshProxy({ xdsTarget: cp.xdsTarget, trustDomain: td, identity: catalog2Id, nodeId: 'catalog-v2-1', service: 'catalog-v2', serviceAccount: 'catalog', appPort: v2.port, ...(o.catalogV2Mode ? { mode: o.catalogV2Mode } : {}) });
  const web = await meshProxy({ xdsTarget: cp.xdsTarget, trustDomain: td, identity: webId, nodeId: 'web-1', service: 'web', serviceAccount: 'web', upstreams: ['catalog'] });
  return {
    v1,
    v2,
    catalog,
    catalogV2,
    web,
    close: async () => {
      for (const p of [catalog, catalogV2, web]) await p.close();
      await v1.close();
      await v2.close();
    },
  };
}
