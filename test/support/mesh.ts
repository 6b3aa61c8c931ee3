// Builders for mesh end-to-end tests: a weft proxy configured only through xDS from a control plane
// (its workload certificate from the control plane's CA), and a tiny HTTP app that answers its name.
import net from 'node:net';
import http from 'node:http';
import { WeftProxy } from '../../src/proxy/proxy.ts';
import { XdsProxyConfig } from '../../src/proxy/xds/xds-config.ts';
import type { ProxyConfigSpec } from '../../src/proxy/runtime/spec.ts';
import type { IdentityMaterial } from '../../src/identity/material.ts';
import { Watch } from '../../src/core/watch.ts';

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

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
 * Starts a proxy whose services, routes and clusters arrive only through xDS. The inbound port is
 * announced to the control plane before it is bound, so it is probed first; if another process takes
 * it in between (EADDRINUSE), the attempt is abandoned and retried with a fresh port.
 */
export async function meshProxy(o: MeshProxyOptions): Promise<MeshProxy> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await meshProxyOnce(o);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 5) throw error;
    }
  }
}

async function meshProxyOnce(o: MeshProxyOptions): Promise<MeshProxy> {
  const namespace = o.namespace ?? 'default';
  const inboundPort = o.appPort !== undefined ? await freePort() : undefined;
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
        inbound: inboundPort !== undefined ? { address: '127.0.0.1', port: inboundPort } : null,
        admin: null,
      },
    };
  };
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
  xds.start();
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error(`proxy ${o.nodeId}: no xDS config within 10 s (last error: ${xds.client.state.current.lastError})`)), 10_000);
  let snapshots;
  try {
    snapshots = await xds.ready(ac.signal);
  } finally {
    clearTimeout(timer);
  }
  let proxy: WeftProxy;
  try {
    proxy = await WeftProxy.start({ snapshot: snapshots, identity });
  } catch (error) {
    xds.stop();
    throw error;
  }
  return {
    proxy,
    xds,
    outboundPort: proxy.addresses.outbound?.port,
    inboundPort: proxy.addresses.inbound?.port,
    close: async () => {
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
