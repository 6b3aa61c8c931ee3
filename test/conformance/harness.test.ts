// End-to-end test of the conformance harness: core gateway tests run through the reference adapter on
// real sockets (loader → manifests → echo backends → client → comparator) and pass; deliberately broken
// reference-router configurations make cases fail; features the SUT lacks are skipped; the weft adapter
// refuses clearly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CORPUS_DIR, loadCorpusIndex, loadConformanceTest } from './corpus.ts';
import { runConformance, runConformanceTest, formatTable, summaryJson } from './runner.ts';
import { ReferenceSut } from './sut-reference.ts';
import { WeftSut } from './sut-weft.ts';
import { SutNotSupportedError } from './errors.ts';
import type { K8sObject, PreAction } from './corpus.ts';
import type { RunningBackends } from './backends.ts';
import type { AppliedConfig, SystemUnderTest } from './sut.ts';

const present = existsSync(join(DEFAULT_CORPUS_DIR, 'index.json'));
const skip = present ? false : `conformance corpus not found at ${DEFAULT_CORPUS_DIR} (set WEFT_CONFORMANCE_CORPUS)`;

const CORE = ['HTTPRouteSimpleSameNamespace', 'HTTPRouteMatching', 'HTTPRouteExactPathMatching', 'HTTPRouteHeaderMatching', 'HTTPRouteWeight'];

test('core gateway tests pass through the reference adapter, every case', { skip }, async () => {
  const index = loadCorpusIndex();
  const summary = await runConformance(new ReferenceSut(), CORE, index);
  const failures = summary.results.flatMap((r) => r.cases.filter((c) => c.status !== 'passed').map((c) => `${c.id}: ${c.differences.join('; ')}`));
  assert.deepEqual(failures, []);
  assert.equal(summary.tests.passed, CORE.length);
  const expectedCases = CORE.reduce((n, name) => n + loadConformanceTest(name, index).cases.length, 0);
  assert.equal(summary.cases.passed, expectedCases);
  const table = formatTable(summary);
  for (const name of CORE) assert.match(table, new RegExp(`^${name}\\s+gateway\\s+core\\s+PASSED`, 'm'));
  const json = JSON.parse(summaryJson(summary)) as { sut: string; cases: { passed: number; failed: number } };
  assert.equal(json.sut, 'reference');
  assert.deepEqual(json.cases, { passed: expectedCases, failed: 0, skipped: 0 });
});

test('a router that ignores header matches fails HTTPRouteHeaderMatching with precise differences', { skip }, async () => {
  const sut = new ReferenceSut({ faults: new Set(['ignore-header-matches']) });
  await sut.start();
  const result = await runConformanceTest(loadConformanceTest('HTTPRouteHeaderMatching'), sut);
  await sut.stop();
  assert.equal(result.status, 'failed');
  const failed = result.cases.filter((c) => c.status === 'failed');
  assert.ok(failed.length > 0);
  assert.ok(
    failed.some((c) => c.differences.some((d) => /^backend: expected a pod of infra-backend-v2, got "infra-backend-v1-/.test(d))),
    JSON.stringify(failed.map((c) => c.differences)),
  );
});

test('the gRPC and mesh comparators bite too: ignored header matches fail GRPCRouteHeaderMatching and MeshHTTPRouteMatching', { skip }, async () => {
  const sut = new ReferenceSut({ faults: new Set(['ignore-header-matches']) });
  const grpc = await runConformanceTest(loadConformanceTest('GRPCRouteHeaderMatching'), sut);
  assert.equal(grpc.status, 'failed');
  assert.ok(grpc.cases.some((c) => c.differences.some((d) => /^backend: expected a pod of grpc-infra-backend-v2, got "grpc-infra-backend-v1-/.test(d))), JSON.stringify(grpc.cases.map((c) => c.differences)));
  const mesh = await runConformanceTest(loadConformanceTest('MeshHTTPRouteMatching'), sut);
  assert.equal(mesh.status, 'failed');
  assert.ok(mesh.cases.some((c) => c.differences.some((d) => /^backend: expected a pod of echo-v2, got "echo-v1-/.test(d))), JSON.stringify(mesh.cases.map((c) => c.differences)));
  const healthy = await runConformanceTest(loadConformanceTest('GRPCRouteHeaderMatching'), new ReferenceSut());
  assert.equal(healthy.status, 'passed', JSON.stringify(healthy.cases.map((c) => c.differences)));
});

test('a router that ignores weights fails the HTTPRouteWeight distribution check', { skip }, async () => {
  const sut = new ReferenceSut({ faults: new Set(['ignore-weights']) });
  const result = await runConformanceTest(loadConformanceTest('HTTPRouteWeight'), sut, { distributionRequests: 100, maxAttempts: 1 });
  const dist = result.cases.find((c) => c.id === 'HTTPRouteWeight/1');
  assert.equal(dist?.status, 'failed');
  assert.ok(dist?.differences.some((d) => /infra-backend-v3: weight 0 but received/.test(d) || /expected 0\.70±0\.05/.test(d)), JSON.stringify(dist?.differences));
});

test('a router that drops RequestHeaderModifier fails HTTPRouteRequestHeaderModifier', { skip }, async () => {
  const sut = new ReferenceSut({ faults: new Set(['drop-request-header-modifier']) });
  const result = await runConformanceTest(loadConformanceTest('HTTPRouteRequestHeaderModifier'), sut);
  assert.equal(result.status, 'failed');
  assert.ok(result.cases.some((c) => c.differences.some((d) => /^backend request header X-Header-Set: expected "set-overwrites-values"/i.test(d))), JSON.stringify(result.cases.map((c) => c.differences)));
});

test('tests needing features the SUT does not declare are skipped and name the missing features', { skip }, async () => {
  const sut = new ReferenceSut({ features: ['Gateway', 'HTTPRoute'] });
  const result = await runConformanceTest(loadConformanceTest('HTTPRouteQueryParamMatching'), sut);
  assert.equal(result.status, 'skipped');
  assert.deepEqual(result.missingFeatures, ['HTTPRouteQueryParamMatching']);
  assert.ok(result.cases.length > 0 && result.cases.every((c) => c.status === 'skipped'));
  const grpc = await runConformanceTest(loadConformanceTest('GRPCRouteWeight'), sut);
  assert.deepEqual(grpc.missingFeatures, ['GRPCRoute']);
  assert.equal(grpc.reason, 'SUT lacks features: GRPCRoute');
});

test('eventually: a case that fails at first passes once the SUT converges (consecutive passes required)', { skip }, async () => {
  const WRONG_CALLS = 4;
  // An SUT whose first answers are wrong (header matches ignored) and that fixes itself after a number
  // of calls — not after wall time, so a slow machine sees the same sequence as a fast one.
  const broken = new ReferenceSut({ faults: new Set(['ignore-header-matches']) });
  const fixed = new ReferenceSut();
  let current = broken;
  const converging = {
    name: 'converging',
    gatewayClassName: 'c',
    supportedFeatures: fixed.supportedFeatures,
    start: async () => undefined,
    stop: async () => {
      await broken.stop();
      await fixed.stop();
    },
    deletePre: (a: PreAction) => current.deletePre(a),
    apply: async (manifests: readonly K8sObject[], backends: RunningBackends): Promise<AppliedConfig> => {
      const early = await broken.apply(manifests, backends);
      const late = await fixed.apply(manifests, backends);
      let calls = 0;
      const pick = () => (++calls <= WRONG_CALLS ? early : late);
      return {
        gatewayAddress: (g, p) => pick().gatewayAddress(g, p),
        meshClient: (c) => pick().meshClient(c),
        remove: async () => {
          await early.remove();
          await late.remove();
        },
      };
    },
  } satisfies SystemUnderTest;
  current = fixed;
  const test1 = loadConformanceTest('HTTPRouteHeaderMatching');
  const once = await runConformanceTest(test1, converging);
  assert.equal(once.status, 'failed', 'checked once, the early wrong answers fail');
  // withinMs is only the harness's give-up budget; the SUT converges after WRONG_CALLS calls.
  const eventually = await runConformanceTest(test1, converging, { eventually: { consecutive: 2, withinMs: 30_000, intervalMs: 10 } });
  assert.equal(eventually.status, 'passed', JSON.stringify(eventually.cases.map((c) => c.differences)));
});

test('preActions run in order: deleting the ReferenceGrant turns the route into a 500', { skip }, async () => {
  const result = await runConformanceTest(loadConformanceTest('HTTPRouteReferenceGrant'), new ReferenceSut());
  assert.deepEqual(
    result.cases.map((c) => [c.id, c.status]),
    [
      ['HTTPRouteReferenceGrant/0', 'passed'],
      ['HTTPRouteReferenceGrant/1', 'passed'],
    ],
  );
});

test('the weft adapter refuses with a clear, coded error until weft has Gateway listeners', async () => {
  const sut = new WeftSut();
  await assert.rejects(sut.start(), (e: unknown) => e instanceof SutNotSupportedError && e.code === 'CONFORMANCE_SUT_UNSUPPORTED' && /not yet supported: weft has no Gateway listeners/.test(e.message));
});
