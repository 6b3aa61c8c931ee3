// Naming conventions of compiled xDS resources (documented in docs/CONTROL-PLANE.md). Names are
// stable, so a resource that did not change keeps its name and content and is not re-sent.
//
//   cluster (outbound)     outbound|<port>||<name>.<namespace>      one per service port
//   cluster (inbound)      inbound|<appPort>||                      sidecars: the local application
//   ClusterLoadAssignment  same as its cluster
//   RouteConfiguration     outbound                                 sidecars: one, every reachable virtual host
//                          outbound|<port>|<name>.<namespace>       proxyless gRPC: one per service port
//                          inbound|<inboundPort>                    sidecars: inlined in the inbound listener
//   virtual host           <name>.<namespace>:<port>
//   Listener               outbound, inbound                        sidecars
//                          <name>.<namespace>:<port> (+ aliases)    proxyless gRPC (the xds:/// target)

export function outboundClusterName(namespace: string, name: string, port: number): string {
  return `outbound|${port}||${name}.${namespace}`;
}

export function inboundClusterName(appPort: number): string {
  return `inbound|${appPort}||`;
}

export function serviceRouteName(namespace: string, name: string, port: number): string {
  return `outbound|${port}|${name}.${namespace}`;
}

export function virtualHostName(namespace: string, name: string, port: number): string {
  return `${name}.${namespace}:${port}`;
}

export const SIDECAR_OUTBOUND_LISTENER = 'outbound';
export const SIDECAR_INBOUND_LISTENER = 'inbound';
export const SIDECAR_OUTBOUND_ROUTE = 'outbound';

/** Parses `outbound|<port>||<name>.<namespace>`; undefined for other names. */
export function parseOutboundClusterName(cluster: string): { namespace: string; name: string; port: number } | undefined {
  const m = /^outbound\|(\d+)\|\|([^.]+)\.(.+)$/.exec(cluster);
  if (!m) return undefined;
  return { port: Number(m[1]), name: m[2]!, namespace: m[3]! };
}

/** Parses a virtual host name `<name>.<namespace>:<port>`. */
export function parseVirtualHostName(vh: string): { namespace: string; name: string; port: number } | undefined {
  const m = /^([^.]+)\.([^:]+):(\d+)$/.exec(vh);
  if (!m) return undefined;
  return { name: m[1]!, namespace: m[2]!, port: Number(m[3]) };
}
