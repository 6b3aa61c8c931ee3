// Tests for the reference router's spec helpers and one self-contained end-to-end route (no corpus
// needed): hostname wildcards, prefix rewrite, header modifiers, CORS origins, precedence, redirects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostnameMatches, replacePrefix, modifyHeaders, corsOriginAllowed, ReferenceRouter } from './reference-router.ts';
import { startBackends } from './backends.ts';
import { planBackends, type BackendServiceSpec, type K8sObject } from './corpus.ts';
import { sendHttp } from './clients.ts';

test('hostname wildcards match one or more labels, never the bare suffix', () => {
  assert.equal(hostnameMatches('*.example.com', 'foo.example.com'), true);
  assert.equal(hostnameMatches('*.example.com', 'a.b.example.com'), true);
  assert.equal(hostnameMatches('*.example.com', 'example.com'), false);
  assert.equal(hostnameMatches('foo.example.com', 'foo.example.com'), true);
  assert.equal(hostnameMatches('foo.example.com', 'bar.example.com'), false);
});

test('ReplacePrefixMatch keeps the remainder at a segment boundary', () => {
  assert.equal(replacePrefix('/prefix/one/two', '/prefix/one', '/one'), '/one/two');
  assert.equal(replacePrefix('/prefix/one', '/prefix/one', '/one'), '/one');
  assert.equal(replacePrefix('/strip-prefix/three', '/strip-prefix', ''), '/three');
  assert.equal(replacePrefix('/strip-prefix', '/strip-prefix', ''), '/');
  assert.equal(replacePrefix('/strip-prefix/', '/strip-prefix', '/'), '/');
  assert.equal(replacePrefix('/a/b', '/a/', '/x/'), '/x/b');
});

test('header modifiers: set replaces case-insensitively, add appends, remove drops', () => {
  const h = modifyHeaders(
    [
      ['X-Set', 'old'],
      ['x-add', 'a'],
      ['X-Remove', 'r'],
    ],
    { set: [{ name: 'x-set', value: 'new' }], add: [{ name: 'X-Add', value: 'b' }], remove: ['x-remove'] },
  );
  assert.deepEqual(h, [
    ['x-add', 'a'],
    ['x-set', 'new'],
    ['X-Add', 'b'],
  ]);
});

test('CORS origins: exact, `*`, and `*` inside a pattern', () => {
  assert.equal(corsOriginAllowed(['https://www.foo.com'], 'https://www.foo.com'), true);
  assert.equal(corsOriginAllowed(['https://*.bar.com'], 'https://xpto.www.bar.com'), true);
  assert.equal(corsOriginAllowed(['https://*.bar.com'], 'https://bar.com'), false);
  assert.equal(corsOriginAllowed(['*'], 'https://anything:1'), true);
  assert.equal(corsOriginAllowed(['https://www.foo.com'], 'https://foobar.com'), false);
});

test('end to end without the corpus: precedence (Exact over prefix, longest prefix), redirect, 404', async (t) => {
  const ns = 'demo';
  const services: BackendServiceSpec[] = ['a', 'b', 'c'].map((name) => ({
    namespace: ns,
    name,
    ports: [{ port: 8080, targetPort: 3000 }],
    pods: [{ podNamePrefix: name, replicas: 1, server: 'echo-basic', tls: false }],
  }));
  const backends = await startBackends(planBackends({ backends: services }), services);
  t.after(() => backends.close());
  const objects: K8sObject[] = [
    { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: ns }, spec: { listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] } },
    ...services.map((s): K8sObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: s.name, namespace: ns }, spec: { ports: s.ports } })),
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'r', namespace: ns },
      spec: {
        parentRefs: [{ name: 'gw' }],
        rules: [
          { matches: [{ path: { type: 'PathPrefix', value: '/x' } }], backendRefs: [{ name: 'a', port: 8080 }] },
          { matches: [{ path: { type: 'PathPrefix', value: '/x/y' } }], backendRefs: [{ name: 'b', port: 8080 }] },
          { matches: [{ path: { type: 'Exact', value: '/x/y' } }], backendRefs: [{ name: 'c', port: 8080 }] },
          { matches: [{ path: { type: 'Exact', value: '/go' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: 'example.org', statusCode: 301 } }] },
        ],
      },
    },
  ];
  const router = new ReferenceRouter();
  await router.apply(objects, backends);
  t.after(() => router.close());
  const address = router.gatewayAddress({ namespace: ns, name: 'gw' }, 80);
  const get = (path: string) => sendHttp({ address, protocol: 'HTTP', method: 'GET', host: 'demo.local', path, headers: {}, followRedirects: false });
  assert.equal((await get('/x/z')).echo?.service, 'a');
  assert.equal((await get('/x/y/z')).echo?.service, 'b', 'longest prefix wins');
  assert.equal((await get('/x/y')).echo?.service, 'c', 'Exact beats any prefix');
  assert.equal((await get('/xy')).statusCode, 404, 'prefixes match whole segments');
  const moved = await get('/go?q=1');
  assert.equal(moved.statusCode, 301);
  assert.equal(moved.headers.find(([k]) => k.toLowerCase() === 'location')?.[1], 'http://example.org/go?q=1');
});
