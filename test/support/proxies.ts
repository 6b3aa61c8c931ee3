// Builders for weft proxies in tests: `startProxyPair()` starts a server-side proxy (inbound mTLS in
// front of an app) and a client-side proxy (outbound by Host, plus optional per-upstream ports) that
// reaches it over mTLS with identities from the test PKI. Everything on 127.0.0.1 port 0.
import { WeftProxy } from '../../src/proxy/proxy.ts';
import { compileSnapshot, type RuntimeSnapshot } from '../../src/proxy/runtime/snapshot.ts';
import type { ProxyConfigSpec, PortProtocol, MtlsMode, ClusterSpec, PeerProtocol } from '../../src/proxy/runtime/spec.ts';
import { makeTestPki, type TestIdentity, type TestPki } from './pki.ts';

/** Compiles a spec or throws with every issue (tests want loud failures). */
export function snapshotOf(spec: ProxyConfigSpec): RuntimeSnapshot {
  const r = compileSnapshot(spec);
  if (!r.ok) throw r.error;
  return r.value;
}

export async function startProxy(spec: ProxyConfigSpec): Promise<WeftProxy> {
  return WeftProxy.start({ snapshot: snapshotOf(spec) });
}

export function identitySpec(id: TestIdentity): NonNullable<ProxyConfigSpec['workload']['identity']> {
  return { certChainPem: id.certChainPem, keyPem: id.keyPem, trustBundlePem: id.trustBundlePem };
}

export interface PairOptions {
  /** The app behind the server proxy. */
  appPort: number;
  /** The app's protocol (server proxy → app). Default http1. */
  appProtocol?: Exclude<PortProtocol, 'auto'>;
  /** Declared protocol of the service port at the client proxy. Default: appProtocol. */
  serviceProtocol?: PortProtocol;
  mtlsMode?: MtlsMode;
  /** Upstream listener on the client proxy for the service port (any protocol). */
  upstreamListener?: boolean;
  /** Extra cluster settings on the client side. */
  cluster?: Partial<ClusterSpec>;
  peerProtocol?: PeerProtocol;
  pki?: TestPki;
  limits?: ProxyConfigSpec['limits'];
  /** Service port as the client addresses it (Host `catalog:<servicePort>`); default 80. */
  servicePort?: number;
  clientIdentity?: TestIdentity;
  allowedPeers?: string[];
}

export interface ProxyPair {
  pki: TestPki;
  client: WeftProxy;
  server: WeftProxy;
  /** 127.0.0.1 port of the client proxy's outbound (by Host) listener. */
  outboundPort: number;
  /** Port of the upstream listener (when requested). */
  upstreamPort: number | undefined;
  inboundPort: number;
  serverIdentity: TestIdentity;
  clientIdentity: TestIdentity;
  close(): Promise<void>;
}

/** Server proxy for workload `catalog` (ns shop) + client proxy for `web` that routes `catalog` to it. */
export async function startProxyPair(options: PairOptions): Promise<ProxyPair> {
  const pki = options.pki ?? (await makeTestPki({ trustDomain: 'test.local' }));
  const serverIdentity = await pki.issue('shop/catalog');
  const clientIdentity = options.clientIdentity ?? (await pki.issue('shop/web'));
  const appProtocol = options.appProtocol ?? 'http1';
  const server = await startProxy({
    workload: {
      name: 'catalog',
      namespace: 'shop',
      trustDomain: 'test.local',
      identity: identitySpec(serverIdentity),
      inbound: { mtlsMode: options.mtlsMode ?? 'STRICT', ports: [{ port: options.appPort, protocol: appProtocol }], allowedPeers: options.allowedPeers },
    },
    listeners: { outbound: null, inbound: { address: '127.0.0.1', port: 0 }, admin: { port: 0 } },
    limits: options.limits,
  });
  const inboundPort = server.addresses.inbound!.port;
  const servicePort = options.servicePort ?? 80;
  const client = await startProxy({
    workload: { name: 'web', namespace: 'shop', trustDomain: 'test.local', identity: identitySpec(clientIdentity), inbound: { mtlsMode: 'STRICT', ports: [] } },
    listeners: {
      outbound: { address: '127.0.0.1', port: 0 },
      inbound: null,
      admin: { port: 0 },
      upstreams: options.upstreamListener ? [{ service: 'catalog.shop', servicePort, localPort: 0 }] : [],
    },
    services: [{ name: 'catalog', namespace: 'shop', ports: [{ port: servicePort, protocol: options.serviceProtocol ?? appProtocol, cluster: 'catalog' }] }],
    clusters: [
      {
        name: 'catalog',
        ...(options.peerProtocol ? { peerProtocol: options.peerProtocol } : {}),
        endpoints: [{ address: '127.0.0.1', port: options.appPort, proxyPort: inboundPort, spiffeId: serverIdentity.spiffeId }],
        ...options.cluster,
      },
    ],
    limits: options.limits,
  });
  return {
    pki,
    client,
    server,
    outboundPort: client.addresses.outbound!.port,
    upstreamPort: client.addresses.upstreams.get(`catalog.shop:${servicePort}`)?.port,
    inboundPort,
    serverIdentity,
    clientIdentity,
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}
