import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLUSTER_TYPE_URL,
  EXTENSION_TYPE_URLS,
  LISTENER_TYPE_URL,
  XdsDecodeError,
  XdsResourceError,
  contentVersion,
  packAny,
  unpackAny,
  validateMessage,
} from './resources.ts';

test('packAny/unpackAny round-trip a Cluster with enums, durations, wrappers and a nested typed Any', () => {
  const any = packAny('envoy.config.cluster.v3.Cluster', {
    name: 'backend',
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {} } },
    connect_timeout: { seconds: 2, nanos: 500_000_000 },
    lb_policy: 'LEAST_REQUEST',
    circuit_breakers: { thresholds: [{ priority: 'DEFAULT', max_connections: { value: 100 } }] },
    outlier_detection: { consecutive_5xx: { value: 5 }, base_ejection_time: { seconds: '30' } },
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: { '@type': EXTENSION_TYPE_URLS.upstreamTlsContext, sni: 'backend.default' },
    },
  });
  assert.equal(any.type_url, CLUSTER_TYPE_URL);
  assert.ok(Object.isFrozen(any));
  const c = unpackAny(any as { type_url: typeof CLUSTER_TYPE_URL; value: Buffer });
  assert.equal(c.name, 'backend');
  assert.equal(c.type, 'EDS');
  assert.equal(c.cluster_discovery_type, 'type');
  assert.equal(c.lb_policy, 'LEAST_REQUEST');
  assert.deepEqual(c.connect_timeout, { seconds: '2', nanos: 500_000_000 });
  assert.equal(c.circuit_breakers?.thresholds[0]?.max_connections?.value, 100);
  assert.equal(c.outlier_detection?.base_ejection_time?.seconds, '30');
  const tls = unpackAny<{ sni: string }>(c.transport_socket!.typed_config!);
  assert.equal(tls.sni, 'backend.default');
});

test('validation names the offending field path, hints snake_case, and refuses bad enums', () => {
  const issues = validateMessage('envoy.config.listener.v3.Listener', {
    name: 'l',
    filterChains: [],
    address: { socket_address: { address: '127.0.0.1', port_value: 'eighty' } },
    traffic_direction: 'SIDEWAYS',
  });
  const paths = issues.map((i) => i.path).sort();
  assert.deepEqual(paths, ['Listener.address.socket_address.port_value', 'Listener.filterChains', 'Listener.traffic_direction']);
  assert.match(issues.find((i) => i.path === 'Listener.filterChains')!.message, /did you mean "filter_chains"/);
  assert.throws(
    () => packAny('envoy.config.cluster.v3.Cluster', { name: 'x', connect_timeout: { seconds: -1.5 } } as never),
    (e: unknown) => e instanceof XdsResourceError && e.code === 'XDS_RESOURCE_INVALID' && /Cluster\.connect_timeout\.seconds/.test(e.message),
  );
});

test('validation checks inside nested "@type" Anys and refuses two members of one oneof', () => {
  assert.throws(
    () =>
      packAny('envoy.config.listener.v3.Listener', {
        name: 'l',
        filter_chains: [{ filters: [{ name: 'hcm', typed_config: { '@type': EXTENSION_TYPE_URLS.httpConnectionManager, stat_prefx: 'x' } }] }],
      } as never),
    /Listener\.filter_chains\[0\]\.filters\[0\]\.typed_config<HttpConnectionManager>\.stat_prefx/,
  );
  assert.throws(
    () => packAny('envoy.config.cluster.v3.Cluster', { name: 'x', type: 'STATIC', cluster_type: { name: 'y' } }),
    /only one of oneof "cluster_discovery_type"/,
  );
});

test('unpackAny refuses unknown type URLs and a mismatched expected type', () => {
  assert.throws(() => unpackAny({ type_url: 'type.googleapis.com/no.such.Type', value: Buffer.alloc(0) }), XdsDecodeError);
  const any = packAny('envoy.config.listener.v3.Listener', { name: 'a' });
  assert.throws(() => unpackAny(any, CLUSTER_TYPE_URL), /expected an Any of/);
  assert.equal(unpackAny<{ name: string }>(any, LISTENER_TYPE_URL).name, 'a');
});

test('contentVersion is stable for equal bytes and differs for different content', () => {
  const a = packAny('envoy.config.listener.v3.Listener', { name: 'a' });
  const a2 = packAny('envoy.config.listener.v3.Listener', { name: 'a' });
  const b = packAny('envoy.config.listener.v3.Listener', { name: 'b' });
  assert.equal(contentVersion(a), contentVersion(a2));
  assert.notEqual(contentVersion(a), contentVersion(b));
  assert.match(contentVersion(a), /^[0-9a-f]{16}$/);
});
