// The xDS Node metadata the weft proxy announces (its workload, ports, inbound port, upstreams).
// Same keys as src/control/node-metadata.ts, kept as a copy because the proxy never imports the
// control plane; a unit test on each side pins the key names.
export const NODE_META = {
  service: 'WEFT_SERVICE',
  namespace: 'WEFT_NAMESPACE',
  serviceAccount: 'WEFT_SERVICE_ACCOUNT',
  labels: 'WEFT_LABELS',
  address: 'WEFT_ADDRESS',
  ports: 'WEFT_PORTS',
  inboundPort: 'WEFT_INBOUND_PORT',
  ready: 'WEFT_READY',
  upstreams: 'WEFT_UPSTREAMS',
  kind: 'WEFT_KIND',
} as const;

export interface ProxyAnnouncement {
  readonly service?: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** Address peers reach this workload's proxy at (an IP literal). */
  readonly address?: string;
  /** Application ports (the first is the main one). */
  readonly ports: readonly { name?: string; port: number }[];
  /** Inbound (mTLS) listener port; omit for a client-only proxy. */
  readonly inboundPort?: number;
  /** Services called, `name` or `namespace/name`; omit for all. */
  readonly upstreams?: readonly string[];
}

export function nodeMetadataFor(a: ProxyAnnouncement): Record<string, unknown> {
  const m: Record<string, unknown> = {
    [NODE_META.kind]: 'sidecar',
    [NODE_META.namespace]: a.namespace,
    [NODE_META.serviceAccount]: a.serviceAccount,
    [NODE_META.ports]: a.ports.map((p) => ({ name: p.name ?? '', port: p.port })),
    [NODE_META.ready]: true,
  };
  if (a.service !== undefined) m[NODE_META.service] = a.service;
  if (a.labels) m[NODE_META.labels] = { ...a.labels };
  if (a.address !== undefined) m[NODE_META.address] = a.address;
  if (a.inboundPort !== undefined) m[NODE_META.inboundPort] = a.inboundPort;
  if (a.upstreams !== undefined) m[NODE_META.upstreams] = [...a.upstreams];
  return m;
}
