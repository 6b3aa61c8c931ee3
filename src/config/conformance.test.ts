// The upstream Gateway API conformance manifests (shared/conformance/gateway-api) are real-world
// input: every case's manifests, with its base manifests, must validate — through both parsers (as
// JSON and as YAML) — except the upstream tests that use invalid references on purpose, which must
// produce exactly the expected cross-reference error or warning (never a schema error).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { validateDocuments, type ConfigIssue } from './index.ts';

const repo = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
// CI lays shared/ beside the clone; a developer's checkout has it at /work/shared.
const corpus = [join(repo, '..', 'shared', 'conformance', 'gateway-api'), '/work/shared/conformance/gateway-api'].find((d) => existsSync(join(d, 'index.json')));

/** Upstream tests with deliberately invalid references → the one issue each must produce. */
const EXPECTED: Record<string, string> = {
  'cases/HTTPRouteInvalidBackendRefUnknownKind.json': 'warning BACKEND_KIND_UNSUPPORTED spec.rules[0].backendRefs[0].kind',
  'cases/HTTPRouteInvalidCrossNamespaceBackendRef.json': 'warning REF_NOT_PERMITTED spec.rules[0].backendRefs[0].namespace',
  'cases/HTTPRouteInvalidNonExistentBackendRef.json': 'error BACKEND_NOT_FOUND spec.rules[0].backendRefs[0].name',
  'cases/HTTPRouteInvalidReferenceGrant.json': 'warning REF_NOT_PERMITTED spec.rules[0].backendRefs[0].namespace',
  'cases/HTTPRoutePartiallyInvalidViaInvalidReferenceGrant.json': 'warning REF_NOT_PERMITTED spec.rules[0].backendRefs[0].namespace',
  // The upstream test routes 0% of traffic to a Service that does not exist.
  'cases/MeshGRPCRouteWeight.json': 'warning BACKEND_NOT_FOUND spec.rules[0].backendRefs[2].name',
  'status-only/HTTPRouteInvalidCrossNamespaceParentRef.json': 'warning ROUTE_NOT_ALLOWED spec.parentRefs[0].name',
  'status-only/HTTPRouteInvalidParentRefNotMatchingListenerPort.json': 'warning PARENT_NOT_FOUND spec.parentRefs[0].port',
  'status-only/HTTPRouteInvalidParentRefNotMatchingSectionName.json': 'warning PARENT_NOT_FOUND spec.parentRefs[0].sectionName',
  'status-only/HTTPRouteInvalidParentRefSectionNameNotMatchingPort.json': 'warning PARENT_NOT_FOUND spec.parentRefs[0].port',
};

interface Case {
  profile: string;
  manifests: Record<string, unknown>[];
  baseManifests?: Record<string, unknown>[];
}

function describe(issues: readonly ConfigIssue[]): string[] {
  return issues.filter((i) => i.code !== 'IGNORED_KIND').map((i) => `${i.severity} ${i.code} ${i.path}`);
}

test('every Gateway API conformance manifest validates (or fails exactly as upstream intends)', { skip: corpus === undefined ? 'conformance corpus not found' : false }, () => {
  const dir = corpus as string;
  const shared = {
    gateway: (JSON.parse(readFileSync(join(dir, 'base', 'gateway-base-manifests.json'), 'utf8')) as { objects: Record<string, unknown>[] }).objects,
    mesh: (JSON.parse(readFileSync(join(dir, 'base', 'mesh-base-manifests.json'), 'utf8')) as { objects: Record<string, unknown>[] }).objects,
  };
  const files = ['cases', 'status-only'].flatMap((sub) => readdirSync(join(dir, sub)).filter((f) => f.endsWith('.json')).map((f) => `${sub}/${f}`));
  assert.ok(files.length >= 80, `found ${files.length} case files`);
  let routes = 0;
  const seenKinds = new Set<string>();
  for (const file of files) {
    const c = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Case;
    const docs = [...(c.baseManifests ?? (c.profile === 'mesh' ? shared.mesh : shared.gateway)), ...c.manifests];
    for (const d of c.manifests) seenKinds.add(String(d.kind));
    routes += c.manifests.filter((d) => d.kind === 'HTTPRoute' || d.kind === 'GRPCRoute').length;
    const asJson = docs.map((d) => JSON.stringify(d, null, 2)).join('\n---\n');
    const asYaml = docs.map((d) => stringify(d)).join('---\n');
    for (const [format, text, parser] of [
      ['json', asJson, 'auto'],
      ['yaml', asYaml, 'auto'],
      ['yaml (precise parser)', asYaml, 'precise'],
    ] as const) {
      const r = validateDocuments([{ source: file, text }], { parser });
      const got = [...(r.ok ? [] : describe(r.error)), ...describe(r.warnings)];
      const want = EXPECTED[file];
      assert.deepEqual(got, want === undefined ? [] : [want], `${file} as ${format}`);
      assert.equal(r.ok, want === undefined || !want.startsWith('error'), `${file} as ${format}`);
    }
  }
  assert.ok(routes >= 100, `validated ${routes} routes`);
  for (const kind of ['HTTPRoute', 'GRPCRoute', 'Gateway', 'ReferenceGrant']) assert.ok(seenKinds.has(kind), kind);
});
