// The xDS Node metadata the weft proxy announces (its workload, ports, inbound port, upstreams).
// The keys are the shared table in src/xds/node.ts (the control plane reads with the same one).
import { META } from '../../xds/node.ts';
/** The wire keys (the one table in src/xds/node.ts, which the control plane reads with). */
export const NODE_META = META;

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
