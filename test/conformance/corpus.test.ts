// Tests for the corpus loader: index and case files, backend planning (pods, names, dedup), manifest
// preparation (class name, TLS Secret, EndpointSlices) and per-attempt placeholder resolution.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  loadCorpusIndex,
  loadConformanceTest,
  planBackends,
  podNameFor,
  deploymentOfPod,
  prepareManifests,
  fillEndpointSlices,
  materializeCase,
  needsConformanceCertificate,
  loadBaseManifests,
} from './corpus.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CorpusError } from './errors.ts';
import { hasCode } from '../../src/core/errors.ts';
import { DEFAULT_CORPUS_DIR, type CorpusIndex } from './corpus.ts';

const skip = existsSync(join(DEFAULT_CORPUS_DIR, 'index.json')) ? false : `conformance corpus not found at ${DEFAULT_CORPUS_DIR} (set WEFT_CONFORMANCE_CORPUS)`;
const index: CorpusIndex = skip === false ? loadCorpusIndex() : { dir: DEFAULT_CORPUS_DIR, upstream: { repository: '', commit: '', license: '' }, tests: [] };

test('the index lists 86 tests; the traffic tests hold 431 cases', { skip }, () => {
  assert.equal(index.tests.length, 86);
  let cases = 0;
  for (const row of index.tests.filter((t) => !t.statusOnly)) cases += loadConformanceTest(row.name, index).cases.length;
  assert.equal(cases, 431);
  assert.equal(index.tests.filter((t) => t.statusOnly).length, 4);
});

test('an unknown test or a missing corpus is a CorpusError with a stable code', { skip }, () => {
  assert.throws(() => loadConformanceTest('NoSuchTest', index), (e: unknown) => e instanceof CorpusError && hasCode(e, 'CONFORMANCE_CORPUS_INVALID'));
  assert.throws(() => loadCorpusIndex('/nonexistent/corpus'), /does not exist/);
});

test('planBackends expands replicas into <prefix>-<hash>-<id> pods and shares pods between Services', { skip }, () => {
  const simple = planBackends(loadConformanceTest('HTTPRouteSimpleSameNamespace', index));
  assert.equal(simple.length, 2);
  for (const p of simple) {
    assert.match(p.podName, /^infra-backend-v1-[a-z0-9]{10}-[a-z0-9]{5}$/);
    assert.equal(deploymentOfPod(p.podName), 'infra-backend-v1');
  }
  assert.notEqual(simple[0]?.podName, simple[1]?.podName);
  assert.equal(podNameFor('ns', 'x', 0), podNameFor('ns', 'x', 0), 'deterministic');
  const mesh = planBackends(loadConformanceTest('MeshHTTPRouteMatching', index));
  assert.deepEqual(mesh.map((p) => p.podNamePrefix).sort(), ['echo-v1', 'echo-v2'], 'echo = echo-v1 + echo-v2, not two more pods');
  assert.deepEqual(mesh.find((p) => p.podNamePrefix === 'echo-v1')?.services.sort(), ['echo', 'echo-v1']);
  const grpcPods = planBackends(loadConformanceTest('GRPCRouteWeight', index));
  assert.ok(grpcPods.every((p) => p.server === 'echo-basic-grpc'));
});

test('prepareManifests substitutes the class name, adds a GatewayClass and the generated TLS Secret', { skip }, () => {
  const t = loadConformanceTest('HTTPRouteHTTPSListener', index);
  assert.equal(needsConformanceCertificate(t), true);
  assert.equal(needsConformanceCertificate(loadConformanceTest('HTTPRouteSimpleSameNamespace', index)), false);
  const objects = prepareManifests(t, { gatewayClassName: 'weft-conformance', certificate: { cert: 'CERT', key: 'KEY', hosts: ['*'] } });
  assert.ok(!JSON.stringify(objects).includes('{GATEWAY_CLASS_NAME}'));
  assert.ok(objects.some((o) => o.kind === 'GatewayClass' && o.metadata.name === 'weft-conformance'));
  const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'tls-validity-checks-certificate');
  assert.equal(Buffer.from((secret?.['data'] as Record<string, string>)['tls.crt'] ?? '', 'base64').toString(), 'CERT');
  const gw = objects.find((o) => o.kind === 'Gateway');
  assert.equal(gw?.spec.gatewayClassName, 'weft-conformance');
});

test('the full base sets load, and every test\'s baseManifests is a subset of its profile\'s set', { skip }, () => {
  const gateway = loadBaseManifests('gateway', index);
  const mesh = loadBaseManifests('mesh', index);
  assert.ok(gateway.some((o) => o.kind === 'Gateway' && o.metadata.name === 'same-namespace'));
  assert.ok(mesh.some((o) => o.kind === 'Service' && o.metadata.name === 'echo'));
  const key = (o: { kind: string; metadata: { namespace?: string; name: string } }) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  for (const name of ['HTTPRouteSimpleSameNamespace', 'MeshBasic']) {
    const t = loadConformanceTest(name, index);
    const base = new Set((t.profile === 'mesh' ? mesh : gateway).map(key));
    for (const o of t.baseManifests) assert.ok(base.has(key(o)), `${name}: ${key(o)} not in the base set`);
    const full = prepareManifests(t, { gatewayClassName: 'c', baseObjects: t.profile === 'mesh' ? mesh : gateway });
    assert.ok(full.length > prepareManifests(t, { gatewayClassName: 'c' }).length);
  }
});

test('fillEndpointSlices puts the infra-backend-v1 pod IPs into empty IPv4 slices', { skip }, () => {
  const t = loadConformanceTest('HTTPRouteServiceTypes', index);
  const filled = fillEndpointSlices(prepareManifests(t, { gatewayClassName: 'c' }), {
    podsByPrefix: (ns, prefix) => (ns === 'gateway-conformance-infra' && prefix === 'infra-backend-v1' ? [{ podName: 'infra-backend-v1-a-b', podIP: '10.244.0.9' }] : []),
  });
  const v4 = filled.find((o) => o.metadata.name === 'manual-endpointslices-ip4');
  assert.deepEqual((v4?.['endpoints'] as Array<{ addresses: string[] }>)[0]?.addresses, ['10.244.0.9']);
  const v6 = filled.find((o) => o.metadata.name === 'manual-endpointslices-ip6');
  assert.deepEqual(v6?.['endpoints'], []);
});

test('materializeCase: one uuid per attempt used everywhere, appendQueryParam on request and expectation', { skip }, () => {
  const retry = loadConformanceTest('HTTPRouteRetry', index).cases[0]!;
  let n = 0;
  const a = materializeCase(retry, { uuid: () => `u${++n}` });
  assert.equal(a.uuid, 'u1');
  assert.ok(a.request.path?.endsWith('uuid=u1'));
  assert.equal(a.expected.backendRequest?.path, a.request.path);
  const b = materializeCase(retry, { uuid: () => `u${++n}` });
  assert.ok(b.request.path?.endsWith('uuid=u2'), 'a fresh uuid per attempt');
  assert.ok(retry.request.path?.includes('{uuid}'), 'the corpus case is not mutated');

  const mirror = loadConformanceTest('HTTPRouteRequestMirror', index).cases[0]!;
  const m = materializeCase(mirror, { uuid: () => 'id-1' });
  assert.equal(m.request.path, '/mirror?gateway-api-conformance-request-id=id-1');
  assert.equal(m.expected.backendRequest?.path, '/mirror?gateway-api-conformance-request-id=id-1');

  const front = loadConformanceTest('MeshFrontend', index).cases[1]!;
  const f = materializeCase(front, { podIP: (name) => (name === 'echo-v2' ? '10.244.0.7' : undefined) });
  assert.equal(f.request.url, 'http://10.244.0.7:8080');
  assert.throws(() => materializeCase(front, {}), /needs \{podIP:echo-v2\}/);

  const ws = loadConformanceTest('HTTPRouteBackendProtocolWebSocket', index).cases[0]!;
  assert.equal(materializeCase(ws, { gateway: '127.0.0.1:9' }).request.url, 'ws://127.0.0.1:9/ws');
  assert.throws(() => materializeCase(ws, {}), /needs \{gateway\}/);
});
