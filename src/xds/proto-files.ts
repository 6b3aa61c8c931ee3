// The single list of Envoy v3 .proto files weft loads, where they come from, and the decoding
// options; shared by the lazy runtime loader (protos.ts) and the type generator (scripts/gen-xds-types.ts)
// so the generated types always describe exactly what the loader produces.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** Root of the pinned @grpc/grpc-js-xds package, whose deps/ folder ships Envoy's protos. */
export const XDS_PACKAGE_DIR = dirname(require.resolve('@grpc/grpc-js-xds/package.json'));

/** Include paths in resolution order (same layout as grpc-js-xds's own generator). */
export const PROTO_INCLUDE_DIRS: readonly string[] = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) =>
  join(XDS_PACKAGE_DIR, 'deps', d),
);

/**
 * Entry files (imports are followed). Everything the compiler may emit lives in these messages:
 * routes with retry/timeout/mirror/rewrite/redirect, clusters with circuit breakers, outlier
 * detection and LB policies, endpoints with localities, TLS contexts and SDS secrets, and the
 * HTTP filters weft uses (router, fault, RBAC, local rate limit).
 */
export const PROTO_FILES: readonly string[] = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto',
  'envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto',
  'envoy/extensions/load_balancing_policies/wrr_locality/v3/wrr_locality.proto',
  'envoy/extensions/load_balancing_policies/pick_first/v3/pick_first.proto',
];

/**
 * How messages look as plain JS objects, at runtime and in the generated types:
 * - field names keep the proto's snake_case (`filter_chains`, `type_url`), exactly as Envoy's
 *   documentation spells them;
 * - 64-bit integers are decimal strings, enums are their names (`'EDS'`), bytes are Buffers;
 * - decoded messages carry every field with its default (`defaults`), and each oneof has a virtual
 *   field naming the member that is set (`oneofs`), as grpc-js-xds does;
 * - nested `google.protobuf.Any` values stay packed (`{ type_url, value }`) — unpack them with
 *   `unpackAny` when you need them.
 */
export const DECODE_OPTIONS = {
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  objects: false,
  oneofs: true,
} as const;

/** The same choices spelled as proto-loader-gen-types flags. */
export const GEN_TYPES_FLAGS: readonly string[] = ['--keepCase', '--longs=String', '--enums=String', '--defaults', '--oneofs'];
