// Unit tests of the config building blocks: durations, suggestions, the schema DSL (validation and
// JSON Schema from one description), immutability, the two parsers agreeing, cross-references,
// policy resolution, and the committed schemas/ being up to date.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDuration, formatDuration } from './duration.ts';
import { editDistance, suggest } from './suggest.ts';
import { s, req, validateValue, toJsonSchema, ValidationContext, INVALID } from './schema.ts';
import { scanDepth, parseSource } from './parse.ts';
import { fieldReferenceDocument } from './docs.ts';
import {
  validateDocuments,
  resolveMtlsMode,
  resolveBackendTraffic,
  KIND_SCHEMAS,
  jsonSchemaFor,
  jsonSchemaForAll,
  MESH_DEFAULTS,
  BACKEND_TRAFFIC_DEFAULTS,
  formatPath,
  type MeshConfig,
  type HTTPRouteSpec,
  type ServiceSpec,
} from './index.ts';

const repo = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

function valid(text: string): MeshConfig {
  const r = validateDocuments([{ source: 'test.yaml', text }]);
  if (!r.ok) throw new Error(JSON.stringify(r.error, null, 2));
  return r.value;
}

test('durations: Gateway API grammar to milliseconds and back', () => {
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1h1m1s1ms'), 3_661_001);
  assert.equal(parseDuration('0s'), 0);
  for (const bad of ['', '10', '1.5s', '1d', '-1s', '123456s', '1h1m1s1ms1h', ' 1s', '1S']) assert.equal(parseDuration(bad), undefined, bad);
  assert.equal(formatDuration(5_400_000), '1h30m');
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(1500), '1s500ms');
});

test('suggestions: close misspellings, case and containment; nothing for unrelated words', () => {
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('abc', 'abc'), 0);
  assert.equal(editDistance('nmae', 'name'), 1, 'a transposition is one edit');
  assert.equal(suggest('retires', ['name', 'matches', 'filters', 'backendRefs', 'timeouts', 'retry']), 'retry');
  assert.equal(suggest('backendref', ['backendRefs', 'filters']), 'backendRefs');
  assert.equal(suggest('strict', ['STRICT', 'PERMISSIVE']), 'STRICT');
  assert.equal(suggest('Prefix', ['Exact', 'PathPrefix', 'RegularExpression']), 'PathPrefix');
  assert.equal(suggest('zebra', ['name', 'matches']), undefined);
  assert.equal(suggest('FETCH', ['GET', 'PATCH']), undefined);
});

test('schema DSL: defaults, required, unknown fields, ranges, custom checks; all errors at once', () => {
  const schema = s.object({
    name: req(s.string({ minLength: 1 })),
    port: s.integer({ minimum: 1, maximum: 65535, default: 80 }),
    timeout: s.duration({ default: '1s' }),
    mode: s.enum(['A', 'B'], { default: 'A' }),
    tags: s.array(s.string(), { maxItems: 2 }),
    limits: s.object({ max: s.integer({ default: 5 }) }, { default: {} }),
    pair: s.object(
      { lo: s.integer(), hi: s.integer() },
      { check: (v: { lo: number; hi: number }, ctx) => (v.lo > v.hi ? ctx.issue('INVALID_VALUE', 'lo > hi', { at: ['lo'] }) : undefined) },
    ),
  });
  const ok = new ValidationContext(['spec']);
  assert.deepEqual(validateValue(schema, { name: 'x' }, ok), { name: 'x', port: 80, timeout: 1000, mode: 'A', limits: { max: 5 } });
  assert.deepEqual(ok.issues, []);

  const bad = new ValidationContext(['spec']);
  const out = validateValue(schema, { port: 0, timeout: 'soon', mode: 'b', tags: ['a', 'b', 'c'], nmae: 1, pair: { lo: 2, hi: 1 } }, bad);
  assert.equal(out, INVALID);
  assert.deepEqual(
    bad.issues.map((i) => `${formatPath(i.path)} ${i.code} ${i.message}`),
    [
      'spec.nmae UNKNOWN_FIELD unknown field `nmae`; did you mean `name`?',
      'spec.name MISSING_FIELD missing required field `name`',
      'spec.port INVALID_VALUE 0 is out of range; expected an integer between 1 and 65535',
      'spec.timeout INVALID_VALUE "soon" is not a duration; expected a duration like 10s, 1h30m or 500ms (1-5 digits per unit h, m, s, ms)',
      'spec.mode INVALID_VALUE "b" is not one of A, B; did you mean `B`?',
      'spec.tags INVALID_VALUE 3 items are too many; expected at most 2 items',
      'spec.pair.lo INVALID_VALUE lo > hi',
    ],
  );
  assert.equal(bad.issues[0]?.atKey, true);
});

test('JSON Schema comes from the same description (types, patterns, defaults, required, closed objects)', () => {
  const schema = s.object({ name: req(s.string({ description: 'the name', pattern: /^[a-z]+$/ })), timeout: s.duration({ default: '1s' }), kind: s.enum(['A']), labels: s.map(s.string()) });
  assert.deepEqual(toJsonSchema(schema), {
    type: 'object',
    properties: {
      name: { description: 'the name', type: 'string', pattern: '^[a-z]+$' },
      timeout: { type: 'string', pattern: '^([0-9]{1,5}(h|m|s|ms)){1,4}$', default: '1s' },
      kind: { type: 'string', enum: ['A'] },
      labels: { type: 'object', additionalProperties: { type: 'string' } },
    },
    required: ['name'],
    additionalProperties: false,
  });
});

test('schemas/ holds the current JSON Schema of every kind (regenerate with scripts/write-schemas.ts)', () => {
  assert.equal(KIND_SCHEMAS.length, 12);
  for (const def of KIND_SCHEMAS) {
    const committed = readFileSync(join(repo, 'schemas', def.schemaFile), 'utf8');
    assert.equal(committed, JSON.stringify(jsonSchemaFor(def), null, 2) + '\n', `schemas/${def.schemaFile} is stale`);
    const parsed = JSON.parse(committed) as { $schema: string; required: string[] };
    assert.equal(parsed.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.ok(parsed.required.includes('apiVersion') && parsed.required.includes('kind'));
  }
  assert.equal(readFileSync(join(repo, 'schemas', 'weft.json'), 'utf8'), JSON.stringify(jsonSchemaForAll(), null, 2) + '\n', 'schemas/weft.json is stale');
});

test('docs/CONFIG.md holds the current generated field reference of every kind', () => {
  const doc = readFileSync(join(repo, 'docs', 'CONFIG.md'), 'utf8');
  const begin = '<!-- field-reference:begin -->\n';
  const a = doc.indexOf(begin);
  const b = doc.indexOf('\n<!-- field-reference:end -->');
  assert.ok(a >= 0 && b > a, 'markers present');
  assert.equal(doc.slice(a + begin.length, b), fieldReferenceDocument(KIND_SCHEMAS), 'stale: run node --import tsx scripts/write-schemas.ts');
  for (const def of KIND_SCHEMAS) assert.ok(doc.includes(`### ${def.kind} (`), def.kind);
});

test('defaults: no Mesh resource means the documented mesh defaults', () => {
  const c = valid('');
  assert.deepEqual(c.mesh, MESH_DEFAULTS);
  assert.equal(c.mesh.trustDomain, 'cluster.local');
  assert.equal(c.mesh.mtlsMode, 'STRICT');
  assert.equal(c.mesh.certificates.leafTtlMs, 24 * 3_600_000);
  assert.equal(c.mesh.certificates.issuerTtlMs, 30 * 24 * 3_600_000);
  assert.equal(c.mesh.certificates.rootTtlMs, 365 * 24 * 3_600_000);
  // The Mesh kind's schema defaults produce exactly the same settings.
  const fromEmpty = valid('apiVersion: weft.dev/v1alpha1\nkind: Mesh\nmetadata: {name: default}\n');
  assert.deepEqual({ ...fromEmpty.mesh, source: undefined }, MESH_DEFAULTS);
});

test('MeshConfig is deeply immutable: frozen objects, maps that refuse changes', () => {
  const c = valid('apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: a, labels: {x: y}}\nspec:\n  ports: [{port: 80}]\n');
  const svc = c.services.get('default/a');
  assert.ok(svc);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(svc) && Object.isFrozen(svc.ports) && Object.isFrozen(svc.ports[0]) && Object.isFrozen(svc.metadata.labels));
  assert.throws(() => (c.services as Map<string, unknown>).set('x', {}), TypeError);
  assert.throws(() => (c.services as Map<string, unknown>).delete('default/a'), TypeError);
  assert.throws(() => {
    (svc.ports as unknown as { port: number }[])[0]!.port = 1;
  }, TypeError);
});

test('the fast and the precise parser agree, and positions are the same either way', () => {
  const text = `# leading comment
apiVersion: weft.dev/v1alpha1
kind: Service
metadata:
  name: a
spec:
  ports:
    - {port: 80, appProtocol: tcp}
  hosts: ["a.example.com"]
---
--- {apiVersion: weft.dev/v1alpha1, kind: Service, metadata: {name: b}, spec: {ports: [{port: 81, apProtocol: http}]}}
`;
  const fast = validateDocuments([{ source: 'x.yaml', text }]);
  const precise = validateDocuments([{ source: 'x.yaml', text }], { parser: 'precise' });
  assert.deepEqual(fast, precise);
  assert.equal(fast.ok, false);
  assert.deepEqual(
    fast.ok ? [] : fast.error.map((i) => `${i.line}:${i.column} ${i.path} ${i.message}`),
    ['11:99 spec.ports[0].apProtocol unknown field `apProtocol`; did you mean `appProtocol`?'],
  );
  const docs = [...parseSource(text).docs];
  assert.deepEqual(
    docs.map((d) => [d.line, d.column]),
    [
      [2, 1],
      [11, 1],
    ],
  );
});

test('depth pre-scan: ignores brackets in quotes, comments and block scalars; catches real nesting', () => {
  assert.equal(scanDepth('a: "[[[[[[[[[["\nb: \'{{{{{{{\'\n# [[[[[[[[[[\nc: |\n  [[[[[[[[[[[[\nd: 1\n', 3), undefined);
  assert.equal(scanDepth('a: [[[[x]]]]\n', 3), 5);
  assert.equal(scanDepth('- - - - x\n', 3), 4);
  assert.equal(scanDepth('a:\n b:\n  c:\n   d: 1\n', 3), 15);
});

test('cross-references: duplicates, a second Mesh, missing services, ReferenceGrants', () => {
  const svc = (ns: string, name: string) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n  ports: [{port: 80}]\n`;
  const route = (ns: string, target: string, targetNs: string) =>
    `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: ${ns}}\nspec:\n  rules:\n    - backendRefs: [{name: ${target}, namespace: ${targetNs}, port: 80}]\n`;
  const grant = `apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: g, namespace: b}\nspec:\n  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: a}]\n  to: [{group: "", kind: Service}]\n`;
  const withoutGrant = validateDocuments([{ source: 'x.yaml', text: [svc('b', 'api'), route('a', 'api', 'b')].join('---\n') }]);
  assert.ok(withoutGrant.ok);
  assert.deepEqual(
    withoutGrant.warnings.map((w) => w.code),
    ['REF_NOT_PERMITTED'],
  );
  const withGrant = validateDocuments([{ source: 'x.yaml', text: [svc('b', 'api'), route('a', 'api', 'b'), grant].join('---\n') }]);
  assert.ok(withGrant.ok);
  assert.deepEqual(withGrant.warnings, []);

  const dup = validateDocuments([
    { source: 'one.yaml', text: svc('a', 'x') },
    { source: 'two.yaml', text: `apiVersion: v1\nkind: Service\nmetadata: {name: x, namespace: a}\nspec:\n  ports: [{port: 80}]\n` },
  ]);
  assert.deepEqual(
    dup.ok ? [] : dup.error.map((i) => `${i.file}:${i.line}:${i.column} ${i.code} ${i.message}`),
    ['two.yaml:3:18 DUPLICATE_RESOURCE duplicate Service `a/x`; first defined at one.yaml:1:1'],
  );
  const meshes = validateDocuments([{ source: 'm.yaml', text: 'apiVersion: weft.dev/v1alpha1\nkind: Mesh\nmetadata: {name: one}\n---\napiVersion: weft.dev/v1alpha1\nkind: Mesh\nmetadata: {name: two}\n' }]);
  assert.deepEqual(
    meshes.ok ? [] : meshes.error.map((i) => i.code),
    ['MULTIPLE_MESH'],
  );
});

test('unknown and ignored kinds: a clear error naming the kinds; foreign Kubernetes kinds are ignored with a warning', () => {
  const r = validateDocuments([{ source: 'k.yaml', text: 'apiVersion: weft.dev/v1alpha1\nkind: HTTPRoutes\nmetadata: {name: a}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n' }]);
  assert.equal(r.ok, false);
  assert.deepEqual(
    r.ok ? [] : r.error.map((i) => i.message),
    ['unknown kind `HTTPRoutes`; did you mean `HTTPRoute`? Supported kinds: Mesh, Service, Workload, Gateway, HTTPRoute, GRPCRoute, ReferenceGrant, MTLSPolicy, AuthorizationPolicy, BackendTrafficPolicy, RateLimitPolicy'],
  );
  assert.deepEqual(
    r.warnings.map((w) => `${w.line}:${w.column} ${w.code} ${w.message}`),
    ['6:7 IGNORED_KIND kind Deployment (apps/v1) is not modelled by weft; ignored'],
  );
});

test('policy resolution: mesh < namespace < service < port, per section for BackendTrafficPolicy', () => {
  const c = valid(`apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  ports: [{name: http, port: 80}, {name: admin, port: 9000}]
---
apiVersion: weft.dev/v1alpha1
kind: MTLSPolicy
metadata: {name: ns, namespace: shop}
spec: {mode: PERMISSIVE}
---
apiVersion: weft.dev/v1alpha1
kind: MTLSPolicy
metadata: {name: admin-port, namespace: shop}
spec:
  targetRefs: [{kind: Service, name: api, sectionName: admin}]
  mode: STRICT
---
apiVersion: weft.dev/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: ns-wide, namespace: shop}
spec:
  loadBalancer: {type: RoundRobin}
  timeouts: {connect: 2s}
---
apiVersion: weft.dev/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: api, namespace: shop}
spec:
  targetRefs: [{kind: Service, name: api}]
  loadBalancer: {type: RingHash, hashHeader: X-User}
`);
  assert.equal(resolveMtlsMode(c, { namespace: 'other', service: 'x' }), 'STRICT');
  assert.equal(resolveMtlsMode(c, { namespace: 'shop', service: 'api', port: 80 }), 'PERMISSIVE');
  assert.equal(resolveMtlsMode(c, { namespace: 'shop', service: 'api', port: 9000 }), 'STRICT');
  const t = resolveBackendTraffic(c, { namespace: 'shop', service: 'api' });
  assert.deepEqual(t.loadBalancer, { type: 'RingHash', hashHeader: 'x-user', minRingSize: 1024 });
  assert.deepEqual(t.timeouts, { connectMs: 2000, idleMs: 3_600_000 });
  assert.deepEqual(t.outlierDetection, BACKEND_TRAFFIC_DEFAULTS.outlierDetection);
  assert.deepEqual(t.retryBudget, c.mesh.retryBudget);
  assert.deepEqual(t.policies, ['shop/api', 'shop/ns-wide']);
});

test('CRLF line endings and a byte-order mark: same results and positions as LF', () => {
  const lf = 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n    - port: 80\n      apProtocol: http\n';
  const crlf = '\uFEFF' + lf.replace(/\n/g, '\r\n');
  for (const parser of ['auto', 'precise'] as const) {
    const a = validateDocuments([{ source: 'x.yaml', text: lf }], { parser });
    const b = validateDocuments([{ source: 'x.yaml', text: crlf }], { parser });
    assert.deepEqual(b.ok ? [] : b.error.map((i) => `${i.line}:${i.column} ${i.path}`), ['8:7 spec.ports[0].apProtocol'], parser);
    assert.deepEqual(b, { ...a, stats: { ...a.stats, bytes: b.stats.bytes } }, parser);
  }
});

test('__proto__ and friends: refused as map keys, unknown as fields; no prototype is ever changed', () => {
  for (const parser of ['auto', 'precise'] as const) {
    const r = validateDocuments(
      [{ source: 'p.yaml', text: 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata:\n  name: a\n  annotations:\n    __proto__: {polluted: "yes"}\nspec:\n  __proto__: {x: 1}\n  ports: [{port: 80}]\n' }],
      { parser },
    );
    assert.deepEqual(r.ok ? [] : r.error.map((i) => `${i.line}:${i.column} ${i.code} ${i.path}`), ['6:5 INVALID_VALUE metadata.annotations.__proto__', '8:3 UNKNOWN_FIELD spec.__proto__'], parser);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  }
});

test('XSpec types are inferred from the schemas: a typed document validates (and type errors are caught by tsc)', () => {
  const service: ServiceSpec = { ports: [{ name: 'http', port: 80, appProtocol: 'http' }] };
  const route: HTTPRouteSpec = {
    parentRefs: [{ group: '', kind: 'Service', name: 'web', port: 80 }],
    rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/api' }, method: 'GET' }], backendRefs: [{ name: 'web', port: 80, weight: 3 }], timeouts: { request: '5s' } }],
  };
  // @ts-expect-error a port is a number, not a string
  const wrong: ServiceSpec = { ports: [{ port: '80' }] };
  void wrong;
  const text = [
    { apiVersion: 'weft.dev/v1alpha1', kind: 'Service', metadata: { name: 'web' }, spec: service },
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'web' }, spec: route },
  ]
    .map((d) => JSON.stringify(d))
    .join('\n---\n');
  const c = valid(text);
  assert.equal(c.httpRoutes.get('default/web')?.rules[0]?.timeouts.requestMs, 5000);
});

test('Gateway API rules: unique match names, ReplacePrefixMatch needs PathPrefix, hostnames are not IPs', () => {
  const r = validateDocuments([
    {
      source: 'r.yaml',
      text: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  hostnames: ["10.0.0.1"]
  rules:
    - matches:
        - path: {type: Exact, value: /a}
          headers: [{name: X-A, value: "1"}, {name: x-a, value: "2"}]
      filters:
        - type: URLRewrite
          urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /b}}
`,
    },
  ]);
  assert.deepEqual(r.ok ? [] : r.error.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`), [
    '5:15 spec.hostnames[0]: "10.0.0.1" is an IP address; expected a hostname',
    '9:53 spec.rules[0].matches[0].headers[1].name: `x-a` is matched twice in `headers` (also at index 0); each name may appear once per match',
  ]);
  const r2 = validateDocuments([
    {
      source: 'r.yaml',
      text: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  rules:
    - matches:
        - path: {type: Exact, value: /a}
      filters:
        - type: URLRewrite
          urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /b}}
`,
    },
  ]);
  assert.deepEqual(r2.ok ? [] : r2.error.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`), [
    '10:37 spec.rules[0].filters[0].urlRewrite.path.type: ReplacePrefixMatch needs PathPrefix matches, but matches[0] is Exact',
  ]);
});

test('allowedRoutes: a route from a namespace (or of a kind) the Gateway does not admit gets ROUTE_NOT_ALLOWED', () => {
  const gateway = (from: string, kinds = '') => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: weft
  listeners:
    - name: http
      port: 80
      protocol: HTTP
      allowedRoutes:
        namespaces:
          from: ${from}
          selector: {matchLabels: {expose: "yes"}}
${kinds}`;
  const route = 'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: app}\nspec:\n  parentRefs: [{name: gw, namespace: infra}]\n';
  const ns = (labels: string) => `apiVersion: v1\nkind: Namespace\nmetadata: {name: app, labels: {${labels}}}\n`;
  const codes = (...docs: string[]) => validateDocuments([{ source: 'g.yaml', text: docs.join('---\n') }]).warnings.filter((w) => w.code !== 'IGNORED_KIND').map((w) => `${w.code} ${w.path}`);
  assert.deepEqual(codes(gateway('Same'), route), ['ROUTE_NOT_ALLOWED spec.parentRefs[0].name']);
  assert.deepEqual(codes(gateway('All'), route), []);
  assert.deepEqual(codes(gateway('Selector'), route, ns('expose: "yes"')), []);
  assert.deepEqual(codes(gateway('Selector'), route, ns('expose: "no"')), ['ROUTE_NOT_ALLOWED spec.parentRefs[0].name']);
  assert.deepEqual(codes(gateway('Selector'), route), [], 'without Namespace labels the selector cannot be judged');
  assert.deepEqual(codes(gateway('All', '        kinds: [{kind: GRPCRoute}]\n'), route), ['ROUTE_NOT_ALLOWED spec.parentRefs[0].name']);
});

test('depth pre-scan: escaped quotes, multi-line quoted scalars and end-of-line comments', () => {
  assert.equal(scanDepth('a: "x\\" [[[[[[" # [[[[[[\nb: 1\n', 3), undefined);
  assert.equal(scanDepth("a: 'it''s [[[[[['\nb: 1\n", 3), undefined);
  assert.equal(scanDepth('a: "multi\n  line [[[[[[ still quoted"\nb: 1\n', 3), undefined);
  assert.equal(scanDepth('a: b # comment [[[[[[\n', 3), undefined);
  assert.equal(scanDepth("a: it's [[[x]]]\n", 3), 10, 'an apostrophe inside a plain scalar does not open a quote');
});

test('depth pre-scan stays linear: no special characters for megabytes, or a quote that never closes', () => {
  for (const text of ['a: 1\n'.repeat(400_000) + 'b: [1]\n', 'a: "' + '\nb: 1'.repeat(400_000), "a: '" + '\nb: 1'.repeat(400_000)]) {
    const start = performance.now();
    assert.equal(scanDepth(text, 128), undefined);
    assert.ok(performance.now() - start < 2000, `took ${performance.now() - start} ms`);
  }
});
