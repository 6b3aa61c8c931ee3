// Every kind has a valid and an invalid fixture under test/fixtures/config/<kind>/: the valid one
// loads into the expected Config (defaults applied, frozen), the invalid one yields exactly these
// issues (line:column severity[code] path: message), in this order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigFiles, type MeshConfig } from './index.ts';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'test', 'fixtures', 'config');

const EXPECTED_INVALID: Record<string, string[]> = {
  'authorizationpolicy': [
    "7:11 error[INVALID_VALUE] spec.action: \"REJECT\" is not one of ALLOW, DENY",
    "10:22 error[INVALID_VALUE] spec.rules[0].from.identities[0]: \"checkout\" is not a valid SPIFFE ID (spiffe://…, a trailing `*` matches a prefix)",
    "12:19 error[INVALID_VALUE] spec.rules[0].to.methods[0]: \"post\" is not a valid upper-case HTTP method",
    "13:17 error[INVALID_VALUE] spec.rules[0].to.paths[0]: \"v1/charges\" is not a valid path starting with `/` (a trailing `*` matches a prefix)",
  ],
  'backendtrafficpolicy': [
    "8:11 error[INVALID_VALUE] spec.loadBalancer.type: \"LeastRequest\" is not one of P2CEWMA, RoundRobin, RingHash",
    "10:21 error[WRONG_TYPE] spec.outlierDetection.consecutive5xx: expected integer, found string \"many\"",
    "11:25 error[INVALID_VALUE] spec.outlierDetection.maxEjectionPercent: 150 is out of range; expected an integer between 0 and 100",
    "13:14 error[INVALID_VALUE] spec.timeouts.connect: \"1.5s\" is not a duration; expected a duration like 10s, 1h30m or 500ms (1-5 digits per unit h, m, s, ms)",
  ],
  'gateway': [
    "7:3 error[MISSING_FIELD] spec.gatewayClassName: missing required field `gatewayClassName`",
    "11:7 error[MISSING_FIELD] spec.listeners[1].tls: missing required field `tls` (required when protocol is HTTPS)",
    "16:17 error[INVALID_VALUE] spec.listeners[2].protocol: \"SCTP\" is not one of HTTP, HTTPS, TLS, TCP, UDP",
  ],
  'grpcroute': [
    "8:19 error[MISSING_FIELD] spec.rules[0].matches[0].method.service: missing required field `service` or `method` (at least one must be set)",
    "9:30 error[INVALID_VALUE] spec.rules[0].matches[1].method.service: \"grpc echo\" is not a valid gRPC service name",
    "11:17 error[INVALID_VALUE] spec.rules[0].filters[0].type: \"URLRewrite\" is not one of RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, ExtensionRef",
    "13:11 error[MISSING_FIELD] spec.rules[0].backendRefs[0].port: missing required field `port` (required when the backend is a Service)",
  ],
  'httproute': [
    "16:25 error[INVALID_VALUE] spec.rules[0].matches[0].path.type: \"Prefix\" is not one of Exact, PathPrefix, RegularExpression; did you mean `PathPrefix`?",
    "17:19 error[INVALID_VALUE] spec.rules[0].matches[0].method: \"FETCH\" is not one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH",
    "18:7 error[UNKNOWN_FIELD] spec.rules[0].retires: unknown field `retires`; did you mean `retry`?",
    "20:11 error[MISSING_FIELD] spec.rules[0].filters[0].requestHeaderModifier: missing required field `requestHeaderModifier` (required when type is RequestHeaderModifier)",
    "22:42 error[INVALID_VALUE] spec.rules[0].filters[1].requestRedirect.statusCode: 304 is not one of 301, 302, 303, 307, 308",
    "28:19 error[INVALID_VALUE] spec.rules[0].backendRefs[0].weight: -1 is out of range; expected an integer between 0 and 1000000",
    "31:25 error[TIMEOUT_ORDER] spec.rules[0].timeouts.backendRequest: backendRequest timeout (5000 ms) exceeds the request timeout (1000 ms)",
    "40:17 error[BACKEND_NOT_FOUND] spec.rules[0].backendRefs[0].name: backend Service `default/ratings` does not exist",
    "43:17 error[BACKEND_PORT_NOT_FOUND] spec.rules[0].backendRefs[1].port: Service `default/reviews` has no port 8080 (its ports: 80)",
  ],
  'kubernetes-service': [
    "6:9 error[INVALID_VALUE] spec.type: \"Internal\" is not one of ClusterIP, NodePort, LoadBalancer, ExternalName",
    "11:19 error[INVALID_VALUE] spec.ports[0].targetPort: 0 is out of range; expected an integer between 1 and 65535",
  ],
  'mesh': [
    "6:16 error[INVALID_VALUE] spec.trustDomain: \"Example_Org\" is not a valid trust domain (lower-case DNS name)",
    "8:11 error[INVALID_VALUE] spec.mtls.mode: \"strict\" is not one of STRICT, PERMISSIVE; did you mean `STRICT`?",
    "10:14 error[INVALID_VALUE] spec.certificates.leafTtl: \"1 day\" is not a duration; expected a duration like 10s, 1h30m or 500ms (1-5 digits per unit h, m, s, ms)",
    "14:14 error[INVALID_VALUE] spec.retryBudget.percent: 120 is out of range; expected a number between 0 and 100",
    "17:7 error[UNKNOWN_FIELD] spec.telemetry.tracing.samplingRate: unknown field `samplingRate`; expected one of: samplingPercent, otlpEndpoint",
  ],
  'mtlspolicy': [
    "8:13 error[INVALID_VALUE] spec.targetRefs[0].kind: \"Servce\" is not one of Namespace, Service, Gateway, HTTPRoute, GRPCRoute; did you mean `Service`?",
    "10:9 error[INVALID_VALUE] spec.mode: \"DISABLED\" is not one of STRICT, PERMISSIVE",
    "20:13 warning[TARGET_NOT_FOUND] spec.targetRefs[0].name: policy target Service `shop/ghost` does not exist; the policy does not apply to it",
  ],
  'ratelimitpolicy': [
    "8:17 error[INVALID_VALUE] spec.local[0].requests: 0 is out of range; expected an integer between 1 and 1000000000",
    "9:13 error[INVALID_VALUE] spec.local[0].unit: \"Day\" is not one of Second, Minute, Hour",
    "16:3 error[MISSING_FIELD] spec.local: missing required field `local` or `global` (a rate limit policy needs at least one limit)",
  ],
  'referencegrant': [
    "1:13 error[UNSUPPORTED_API_VERSION] apiVersion: apiVersion `gateway.networking.k8s.io/v1alpha2` is not supported for kind ReferenceGrant; expected gateway.networking.k8s.io/v1beta1 or gateway.networking.k8s.io/v1",
    "14:3 error[MISSING_FIELD] spec.to: missing required field `to`",
    "14:9 error[INVALID_VALUE] spec.from: empty sequence; expected at least 1 item",
  ],
  'service': [
    "4:9 error[INVALID_VALUE] metadata.name: \"Catalog\" is not a valid name (lower-case letters, digits, `-` and `.`; DNS-1123)",
    "10:20 error[INVALID_VALUE] spec.ports[0].appProtocol: \"http3\" is not one of http, http2, grpc, tcp; did you mean `http`?",
    "13:13 error[INVALID_VALUE] spec.ports[2].port: 70000 is out of range; expected an integer between 1 and 65535",
    "14:3 error[UNKNOWN_FIELD] spec.selectr: unknown field `selectr`; did you mean `selector`?",
  ],
  'workload': [
    "7:3 error[MISSING_FIELD] spec.address: missing required field `address`",
    "8:3 error[UNKNOWN_FIELD] spec.adress: unknown field `adress`; did you mean `address`?",
    "9:9 error[WRONG_TYPE] spec.port: expected integer, found string \"8080\"",
    "17:12 error[SERVICE_NOT_FOUND] spec.service: Service `shop/catalog` does not exist",
  ],
};

test('every kind has a valid and an invalid fixture, and every invalid fixture is covered here', () => {
  const kinds = readdirSync(root).sort();
  assert.deepEqual(kinds, Object.keys(EXPECTED_INVALID).sort());
  assert.equal(kinds.length, 12);
  for (const kind of kinds) assert.deepEqual(readdirSync(join(root, kind)).sort(), ['invalid.yaml', 'valid.yaml'], kind);
});

for (const [kind, expected] of Object.entries(EXPECTED_INVALID)) {
  test(`${kind}: invalid fixture reports exactly the expected issues`, async () => {
    const file = join(root, kind, 'invalid.yaml');
    const r = await loadConfigFiles([file]);
    assert.equal(r.ok, false, 'invalid fixture must not validate');
    const all = [...(r.ok ? [] : r.error), ...r.warnings];
    for (const i of all) assert.equal(i.file, file);
    assert.deepEqual(
      all.map((i) => `${i.line}:${i.column} ${i.severity}[${i.code}] ${i.path}: ${i.message}`),
      expected,
    );
  });

  test(`${kind}: valid fixture validates with no warnings`, async () => {
    const r = await loadConfigFiles([join(root, kind, 'valid.yaml')]);
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.error, null, 2));
    assert.deepEqual(r.warnings, []);
    assert.ok(Object.isFrozen(r.value));
  });
}

async function load(kind: string): Promise<MeshConfig> {
  const r = await loadConfigFiles([join(root, kind, 'valid.yaml')]);
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.value;
}

test('valid Mesh: fields converted, unset rotation fractions defaulted', async () => {
  const c = await load('mesh');
  assert.equal(c.mesh.trustDomain, 'example.org');
  assert.equal(c.mesh.mtlsMode, 'PERMISSIVE');
  assert.deepEqual(c.mesh.certificates, {
    leafTtlMs: 12 * 3_600_000,
    issuerTtlMs: 720 * 3_600_000,
    rootTtlMs: 8760 * 3_600_000,
    rotation: { leafRenewFraction: 0.6, issuerRenewFraction: 0.75, rootRenewFraction: 0.667 },
  });
  assert.deepEqual(c.mesh.retryBudget, { percent: 25, minRetriesPerSecond: 5, ttlMs: 10_000 });
  assert.deepEqual(c.mesh.telemetry, { traceSamplingPercent: 10, otlpEndpoint: 'http://127.0.0.1:4318', accessLogFormat: 'text' });
  assert.equal(c.mesh.source?.line, 2);
});

test('valid Service and Workload: defaults (targetPort, serviceAccount), labels, lookups', async () => {
  const svc = (await load('service')).services.get('shop/catalog');
  assert.ok(svc);
  assert.equal(svc.origin, 'weft');
  assert.deepEqual(svc.ports, [
    { name: 'http', port: 80, targetPort: 8080, appProtocol: 'http' },
    { name: 'grpc', port: 9090, targetPort: 9090, appProtocol: 'grpc' },
    { name: 'db', port: 5432, targetPort: 5432, appProtocol: 'tcp' },
  ]);
  assert.deepEqual(svc.hosts, ['catalog.example.com']);
  const w = (await load('workload')).workloads.get('shop/catalog-1');
  assert.ok(w);
  assert.deepEqual([w.service, w.serviceAccount, w.address, w.port, w.proxyPort, w.labels.version], ['catalog', 'catalog', '10.0.0.7', 8080, 15006, 'v1']);
});

test('valid Kubernetes Service: bookkeeping ignored, named targetPort kept, appProtocol mapped', async () => {
  const svc = (await load('kubernetes-service')).services.get('default/web');
  assert.ok(svc);
  assert.equal(svc.origin, 'kubernetes');
  assert.equal(svc.clusterIP, 'None');
  assert.deepEqual(svc.ports, [{ name: 'http', port: 8080, targetPort: 'http', appProtocol: 'http2' }]);
});

test('valid Gateway: listener defaults (tls mode, allowedRoutes)', async () => {
  const gw = (await load('gateway')).gateways.get('infra/edge');
  assert.ok(gw);
  const [http, https] = gw.listeners;
  assert.equal(http?.allowedRoutes.namespacesFrom, 'All');
  assert.equal(http?.hostname, '*.example.com');
  assert.equal(https?.tls?.mode, 'Terminate');
  assert.deepEqual(https?.tls?.certificateRefs, [{ group: '', kind: 'Secret', name: 'edge-cert', namespace: 'infra' }]);
  assert.deepEqual(https?.allowedRoutes.kinds, [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' }]);
  assert.deepEqual(https?.allowedRoutes.namespaceSelector?.matchLabels, { expose: 'true' });
});

test('valid HTTPRoute: matches, filters, weights, timeouts and retry as Config', async () => {
  const route = (await load('httproute')).httpRoutes.get('default/reviews');
  assert.ok(route);
  assert.deepEqual(route.parentRefs, [{ group: '', kind: 'Service', namespace: 'default', name: 'reviews', sectionName: undefined, port: 80 }]);
  const [canary, redirect] = route.rules;
  assert.equal(canary?.name, 'canary');
  assert.deepEqual(canary?.matches[0], {
    path: { type: 'PathPrefix', value: '/api' },
    headers: [{ type: 'Exact', name: 'x-canary', value: 'true' }],
    queryParams: [{ type: 'RegularExpression', name: 'v', value: '^2' }],
    method: 'GET',
  });
  assert.deepEqual(
    canary?.backendRefs.map((b) => [b.name, b.weight]),
    [
      ['reviews', 90],
      ['reviews-v2', 10],
    ],
  );
  assert.deepEqual(canary?.timeouts, { requestMs: 10_000, backendRequestMs: 2000 });
  assert.deepEqual(canary?.retry, { codes: [502, 503], attempts: 2, backoffMs: 100 });
  assert.deepEqual(
    canary?.filters.map((f) => f.type),
    ['RequestHeaderModifier', 'ResponseHeaderModifier', 'URLRewrite', 'RequestMirror'],
  );
  const mirror = canary?.filters[3];
  assert.ok(mirror?.type === 'RequestMirror');
  assert.equal(mirror.requestMirror.ratio, 0.1);
  assert.deepEqual(redirect?.matches[0]?.path, { type: 'Exact', value: '/old' });
  const r = redirect?.filters[0];
  assert.ok(r?.type === 'RequestRedirect');
  assert.deepEqual(r.requestRedirect, { scheme: 'https', hostname: 'reviews.example.com', path: { type: 'ReplaceFullPath', replaceFullPath: '/new', replacePrefixMatch: undefined }, port: undefined, statusCode: 301 });
  assert.deepEqual(redirect?.backendRefs, []);
});

test('valid GRPCRoute, ReferenceGrant and policies convert', async () => {
  const g = (await load('grpcroute')).grpcRoutes.get('default/echo');
  assert.deepEqual(g?.rules[0]?.matches[0]?.method, { type: 'Exact', service: 'grpc.examples.echo.Echo', method: 'UnaryEcho' });
  const rg = (await load('referencegrant')).referenceGrants.get('backend/allow-web');
  assert.deepEqual(rg?.to, [{ group: '', kind: 'Service', name: 'api' }]);
  const m = await load('mtlspolicy');
  assert.deepEqual(m.mtlsPolicies.get('shop/shop-strict')?.targetRefs, []);
  const a = (await load('authorizationpolicy')).authorizationPolicies.get('shop/payments-allow');
  assert.deepEqual(a?.rules[0]?.paths, ['/v1/charges', '/v1/refunds/*']);
  const b = (await load('backendtrafficpolicy')).backendTrafficPolicies.get('shop/catalog');
  assert.deepEqual(b?.loadBalancer, { type: 'RingHash', hashHeader: 'x-session-id', minRingSize: 1024 });
  assert.deepEqual(b?.circuitBreaker, { maxConnections: 100, maxPendingRequests: 50, maxRequests: 1024, maxRetries: 3 });
  assert.deepEqual(b?.outlierDetection, { consecutive5xx: 3, consecutiveGatewayErrors: 5, intervalMs: 5000, baseEjectionTimeMs: 15_000, maxEjectionPercent: 50 });
  assert.deepEqual(b?.retryBudget, { percent: 10, minRetriesPerSecond: 3, ttlMs: 10_000 });
  assert.deepEqual(b?.timeouts, { connectMs: 500, idleMs: 300_000 });
  const rl = (await load('ratelimitpolicy')).rateLimitPolicies.get('default/search');
  assert.deepEqual(rl?.local, [{ key: 'SourceIdentity', header: undefined, requests: 100, unit: 'Second', burst: 200 }]);
  assert.deepEqual(rl?.global, [{ key: 'Header', header: 'x-api-key', requests: 1000, unit: 'Minute', burst: 1000 }]);
});
