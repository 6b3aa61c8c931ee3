// Clusters and ClusterLoadAssignments for service ports: BackendTrafficPolicy → lb_policy, circuit
// breakers (with the retry budget), outlier detection and connect timeout; endpoints grouped by
// locality with a weight on every group and every endpoint (gRPC requires both). Two flavours:
// `sidecar` (weft proxy, Envoy: mTLS to the peer proxy's inbound port, SAN-checked) and `proxyless`
// (gRPC xDS clients: no transport socket, the application port, LB policies gRPC implements).
import { EXTENSION_TYPE_URLS } from '../../xds/resources.ts';
import { jsonToStruct } from '../../xds/node.ts';
import type { ProxyKind } from '../node-metadata.ts';
import type { EndpointModel, MeshIndex, ServicePortModel } from './mesh-index.ts';
import { inboundClusterName, outboundClusterName } from './names.ts';

export type XdsObject = Record<string, unknown>;

/** Milliseconds as a google.protobuf.Duration. */
export function duration(ms: number): { seconds: string; nanos: number } {
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

const u32 = (value: number) => ({ value });

function lbFields(sp: ServicePortModel, kind: ProxyKind): XdsObject {
  const lb = sp.traffic.loadBalancer;
  if (lb.type === 'RingHash') return { lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: { value: String(lb.minRingSize) } } };
  if (lb.type === 'RoundRobin' || kind === 'proxyless') return { lb_policy: 'ROUND_ROBIN' };
  // P2C over EWMA latency: Envoy's least-request picks the better of two random hosts.
  return { lb_policy: 'LEAST_REQUEST', least_request_lb_config: { choice_count: u32(2) } };
}

function outlierFields(sp: ServicePortModel): XdsObject {
  const od = sp.traffic.outlierDetection;
  return {
    consecutive_5xx: u32(od.consecutive5xx),
    enforcing_consecutive_5xx: u32(od.consecutive5xx > 0 ? 100 : 0),
    consecutive_gateway_failure: u32(od.consecutiveGatewayErrors),
    enforcing_consecutive_gateway_failure: u32(od.consecutiveGatewayErrors > 0 ? 100 : 0),
    interval: duration(od.intervalMs),
    base_ejection_time: duration(od.baseEjectionTimeMs),
    max_ejection_percent: u32(od.maxEjectionPercent),
    // gRPC clients implement only the success-rate and failure-percentage algorithms (gRFC A50):
    // express "consecutive 5xx" as a failure percentage over a request volume of the same size.
    enforcing_success_rate: u32(0),
    failure_percentage_threshold: u32(50),
    enforcing_failure_percentage: u32(od.consecutive5xx > 0 ? 100 : 0),
    failure_percentage_minimum_hosts: u32(2),
    failure_percentage_request_volume: u32(Math.max(2, od.consecutive5xx)),
  };
}

function upstreamTls(index: MeshIndex, sp: ServicePortModel): XdsObject {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': EXTENSION_TYPE_URLS.upstreamTlsContext,
      sni: `${sp.service.metadata.name}.${sp.service.metadata.namespace}.svc.${index.clusterDomain}`,
      common_tls_context: {
        alpn_protocols: ['h2', 'http/1.1'],
        // The workload's own certificate never leaves its proxy: `default` is the proxy-local secret.
        tls_certificate_sds_secret_configs: [{ name: 'default' }],
        validation_context: {
          trusted_ca: { inline_string: index.snapshot.trustBundlePem },
          match_typed_subject_alt_names: sp.peerIdentities.map((id) => ({ san_type: 'URI', matcher: { exact: id } })),
        },
      },
    },
  };
}

function isMeshed(sp: ServicePortModel): boolean {
  return sp.mtlsMode === 'STRICT' || sp.mtlsMode === 'PERMISSIVE' ? sp.endpoints.some((e) => e.proxyPort !== undefined) : false;
}

export function outboundCluster(index: MeshIndex, sp: ServicePortModel, kind: ProxyKind): XdsObject {
  const ns = sp.service.metadata.namespace;
  const name = outboundClusterName(ns, sp.service.metadata.name, sp.port.port);
  const t = sp.traffic;
  const cb = t.circuitBreaker;
  const http2 = sp.port.appProtocol === 'grpc' || sp.port.appProtocol === 'http2';
  const cluster: XdsObject = {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name },
    connect_timeout: duration(t.timeouts.connectMs),
    ...lbFields(sp, kind),
    circuit_breakers: {
      thresholds: [
        {
          priority: 'DEFAULT',
          max_connections: u32(cb.maxConnections),
          max_pending_requests: u32(cb.maxPendingRequests),
          max_requests: u32(cb.maxRequests),
          max_retries: u32(cb.maxRetries),
          // Envoy's budget is concurrency-based: retries may be `percent` of active requests, at least min concurrency.
          retry_budget: { budget_percent: { value: t.retryBudget.percent }, min_retry_concurrency: u32(t.retryBudget.minRetriesPerSecond) },
        },
      ],
    },
    outlier_detection: outlierFields(sp),
    metadata: {
      filter_metadata: {
        weft: jsonToStruct({ service: sp.service.metadata.name, namespace: ns, port: sp.port.port, protocol: sp.port.appProtocol, mtls: sp.mtlsMode, meshed: isMeshed(sp), policies: [...t.policies] }),
      },
    },
  };
  if (kind === 'sidecar') {
    cluster.typed_extension_protocol_options = {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': EXTENSION_TYPE_URLS.httpProtocolOptions,
        common_http_protocol_options: { idle_timeout: duration(t.timeouts.idleMs) },
        ...(http2 ? { explicit_http_config: { http2_protocol_options: {} } } : { use_downstream_protocol_config: {} }),
      },
    };
    if (isMeshed(sp)) cluster.transport_socket = upstreamTls(index, sp);
  }
  return cluster;
}

function endpointAddress(e: EndpointModel, kind: ProxyKind, meshed: boolean): { address: string; port: number } {
  // Sidecars reach a meshed peer through its proxy's inbound (mTLS) port; proxyless clients reach the app.
  if (kind === 'sidecar' && meshed && e.proxyPort !== undefined) return { address: e.address, port: e.proxyPort };
  return { address: e.address, port: e.port };
}

export function loadAssignment(sp: ServicePortModel, kind: ProxyKind): XdsObject {
  const name = outboundClusterName(sp.service.metadata.namespace, sp.service.metadata.name, sp.port.port);
  const meshed = isMeshed(sp);
  const groups = new Map<string, { locality: EndpointModel['locality']; eps: EndpointModel[] }>();
  for (const e of sp.endpoints) {
    const k = e.locality ? `${e.locality.region}/${e.locality.zone}/${e.locality.sub_zone}` : '';
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { locality: e.locality, eps: [] }));
    g.eps.push(e);
  }
  const endpoints = [...groups.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, g]) => ({
      locality: g.locality ? { region: g.locality.region, zone: g.locality.zone, sub_zone: g.locality.sub_zone } : {},
      load_balancing_weight: u32(1),
      lb_endpoints: g.eps
        .map((e) => {
          const a = endpointAddress(e, kind, meshed);
          return {
            endpoint: { address: { socket_address: { address: a.address, port_value: a.port } } },
            health_status: e.ready ? 'HEALTHY' : 'UNHEALTHY',
            load_balancing_weight: u32(1),
            metadata: { filter_metadata: { weft: jsonToStruct({ spiffe_id: e.spiffeId, app_port: e.port, ...(meshed && e.proxyPort !== undefined ? { proxy_port: e.proxyPort } : {}), labels: e.labels }) } },
          };
        })
        .sort((x, y) => {
          const ax = x.endpoint.address.socket_address, ay = y.endpoint.address.socket_address;
          return ax.address < ay.address ? -1 : ax.address > ay.address ? 1 : ax.port_value - ay.port_value;
        }),
    }));
  return { cluster_name: name, endpoints };
}

/** The sidecar's cluster for its own application port (static, loopback). */
export function inboundCluster(appPort: number, appAddress = '127.0.0.1'): XdsObject {
  const name = inboundClusterName(appPort);
  return {
    name,
    type: 'STATIC',
    connect_timeout: duration(1000),
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: appAddress, port_value: appPort } } } }] }] },
  };
}
