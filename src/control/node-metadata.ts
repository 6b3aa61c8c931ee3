// What a proxy announces about its workload in the xDS Node metadata, and how the control plane
// reads it. Keys are flat and upper-case (Istio style) so Envoy bootstraps can set them too.
// The key table (`META`) lives in src/xds/node.ts, shared with the proxy side that writes them.
import { META, type JsonValue, type NodeInfo } from '../xds/node.ts';

export { META };

/**
 * `sidecar`: the weft proxy (one route configuration per service port, so a route change re-sends one
 * small resource); `envoy`: Envoy (one `outbound` route configuration with every virtual host behind
 * one outbound listener); `proxyless`: a gRPC xDS client.
 */
export type ProxyKind = 'sidecar' | 'envoy' | 'proxyless';

export interface AnnouncedPort {
  readonly name: string;
  readonly port: number;
}

/** The workload a node describes; fields absent from the metadata are undefined. */
export interface NodeClaims {
  readonly nodeId: string;
  readonly kind: ProxyKind;
  readonly service: string | undefined;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly address: string | undefined;
  readonly ports: readonly AnnouncedPort[];
  readonly inboundPort: number | undefined;
  readonly ready: boolean;
  /** Service keys `namespace/name`; undefined = every service. */
  readonly upstreams: readonly string[] | undefined;
  readonly locality: { readonly region: string; readonly zone: string; readonly sub_zone: string } | undefined;
}

function str(v: JsonValue | undefined): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function num(v: JsonValue | undefined): number | undefined {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 && n < 65536 ? n : undefined;
}

/** Reads the claims of a node. Without WEFT_KIND: a gRPC user agent is `proxyless`, `weft` a sidecar, anything else Envoy. */
export function readNodeClaims(node: NodeInfo): NodeClaims {
  const m = node.metadata;
  const namespace = str(m[META.namespace]) ?? 'default';
  const kindRaw = str(m[META.kind]);
  const kind: ProxyKind =
    kindRaw === 'proxyless' || kindRaw === 'sidecar' || kindRaw === 'envoy' ? kindRaw : /grpc/i.test(node.userAgentName) ? 'proxyless' : node.userAgentName === 'weft' ? 'sidecar' : 'envoy';
  const labels: Record<string, string> = {};
  const rawLabels = m[META.labels];
  if (rawLabels && typeof rawLabels === 'object' && !Array.isArray(rawLabels)) {
    for (const [k, v] of Object.entries(rawLabels)) if (typeof v === 'string') labels[k] = v;
  }
  const ports: AnnouncedPort[] = [];
  const rawPorts = m[META.ports];
  if (Array.isArray(rawPorts)) {
    for (const p of rawPorts) {
      if (p && typeof p === 'object' && !Array.isArray(p)) {
        const port = num(p.port);
        if (port !== undefined) ports.push({ name: str(p.name) ?? '', port });
      } else if (num(p) !== undefined) ports.push({ name: '', port: num(p)! });
    }
  }
  let upstreams: string[] | undefined;
  const rawUp = m[META.upstreams];
  if (Array.isArray(rawUp)) upstreams = rawUp.filter((u): u is string => typeof u === 'string' && u !== '').map((u) => (u.includes('/') ? u : `${namespace}/${u}`));
  else if (typeof rawUp === 'string' && rawUp !== '') upstreams = rawUp.split(',').map((u) => u.trim()).filter(Boolean).map((u) => (u.includes('/') ? u : `${namespace}/${u}`));
  const ready = m[META.ready];
  return {
    nodeId: node.id,
    kind,
    service: str(m[META.service]),
    namespace,
    serviceAccount: str(m[META.serviceAccount]) ?? 'default',
    labels,
    address: str(m[META.address]),
    ports,
    inboundPort: num(m[META.inboundPort]),
    ready: ready === undefined ? true : ready === true || ready === 'true',
    upstreams,
    locality: node.locality,
  };
}
