import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSnapshot, redirectLocation, resolveAuthority, selectRoute, pickBackend, requestTimeoutFor, type RequestView } from './snapshot.ts';
import { loadBootstrapText } from './bootstrap.ts';

const base = {
  workload: { name: 'web', namespace: 'shop', inbound: { mtlsMode: 'DISABLED', ports: [{ port: 8080, protocol: 'http1' }] } },
  services: [
    {
      name: 'catalog',
      ports: [
        { port: 80, protocol: 'http1', routes: [
          { name: 'v2', match: { pathPrefix: '/v2', headers: [{ name: 'X-Canary', exact: '1' }] }, backends: [{ cluster: 'b', weight: 1 }], timeoutMs: 500 },
          { backends: [{ cluster: 'a', weight: 3 }, { cluster: 'b', weight: 1 }] },
        ] },
        { port: 9000, protocol: 'tcp', cluster: 'a' },
      ],
    },
    { name: 'catalog', namespace: 'other', ports: [{ port: 80, cluster: 'a' }] },
  ],
  clusters: [
    { name: 'a', endpoints: [{ address: '127.0.0.1', port: 1 }] },
    { name: 'b', endpoints: [{ address: '127.0.0.1', port: 2 }], requestTimeoutMs: 100 },
  ],
};

function view(method: string, path: string, headers: Record<string, string> = {}): RequestView {
  return { method, path, header: (n) => headers[n] };
}

test('compiles a spec: host forms, default port, routes, weights and timeouts', () => {
  const r = compileSnapshot(base);
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  const s = r.value;
  for (const host of ['catalog', 'catalog.shop', 'catalog.shop.svc', 'catalog.shop.svc.cluster.local', 'CATALOG.shop:80']) {
    const hit = resolveAuthority(s, host);
    assert.equal(hit?.service.id, 'catalog.shop', host);
    assert.equal(hit?.port.port, 80);
  }
  assert.equal(resolveAuthority(s, 'catalog.other')?.service.id, 'catalog.other');
  assert.equal(resolveAuthority(s, 'catalog:9000')?.port.protocol, 'tcp');
  assert.equal(resolveAuthority(s, 'catalog:1234'), undefined);
  assert.equal(resolveAuthority(s, 'nope'), undefined);
  const port = resolveAuthority(s, 'catalog')!.port;
  assert.equal(selectRoute(port, view('GET', '/v2/x?q', { 'x-canary': '1' }))?.name, 'v2');
  assert.equal(selectRoute(port, view('GET', '/v2x', { 'x-canary': '1' }))?.name, 'catalog.shop:80/1');
  const def = selectRoute(port, view('GET', '/'))!;
  assert.equal(pickBackend(def, 0.0), 'a');
  assert.equal(pickBackend(def, 0.74), 'a');
  assert.equal(pickBackend(def, 0.76), 'b');
  assert.equal(requestTimeoutFor(port.routes[0]!, s.clusters.get('b')!), 500);
  assert.equal(requestTimeoutFor(def, s.clusters.get('b')!), 100);
  assert.equal(s.clusters.get('a')!.lb, 'p2c-ewma');
  assert.equal(s.clusters.get('a')!.peerProtocol, 'plain');
  assert.ok(Object.isFrozen(s));
});

test('reports every problem with its path', () => {
  const bad = structuredClone(base) as any;
  bad.clusters[0].endpoints[0].port = 70000;
  bad.clusters[1].lb = 'random';
  bad.services[0].ports[0].routes[1].backends[0].cluster = 'missing';
  bad.clusters.push({ name: 'm', endpoints: [{ address: '10.0.0.1', port: 80, spiffeId: 'spiffe://td/ns/x/sa/y' }] });
  bad.bogus = 1;
  const r = compileSnapshot(bad);
  assert.ok(!r.ok);
  const paths = r.error.issues.map((i) => i.path.join('.'));
  assert.ok(paths.includes('clusters.0.endpoints.0.port'), paths.join('\n'));
  assert.ok(paths.includes('clusters.1.lb'));
  assert.ok(paths.includes('services.0.ports.0.routes.1.backends.0.cluster'));
  assert.ok(paths.includes('clusters.2.endpoints.0.proxyPort'));
  assert.ok(paths.includes('bogus'));
  assert.equal(r.error.code, 'PROXY_CONFIG_INVALID');
});

test('bootstrap YAML errors carry line and column', () => {
  const yaml = `workload:
  name: web
  inbound:
    mtlsMode: DISABLED
    ports: [{ port: 8080 }]
clusters:
  - name: a
    endpoints:
      - address: 127.0.0.1
        port: nope
`;
  const r = loadBootstrapText(yaml, 'b.yaml');
  assert.ok(!r.ok);
  const issue = r.error.located[0]!;
  assert.equal(issue.line, 10);
  assert.match(r.error.message, /b\.yaml:10:\d+ clusters\[0\]\.endpoints\[0\]\.port/);
  const syntax = loadBootstrapText('workload: [\n', 'c.yaml');
  assert.ok(!syntax.ok);
  assert.equal(syntax.error.located[0]!.file, 'c.yaml');
});

test('STRICT inbound without identity is refused with a hint', () => {
  const r = compileSnapshot({ workload: { name: 'x', inbound: { ports: [{ port: 1 }] } } });
  assert.ok(!r.ok);
  assert.match(r.error.message, /needs workload.identity/);
});

test('bootstrap JSON: valid files compile without the YAML parser; errors still carry line numbers', () => {
  const good = JSON.stringify({ workload: { name: 'web', inbound: { mtlsMode: 'DISABLED', ports: [{ port: 8080 }] } } });
  const ok = loadBootstrapText(good, 'b.json');
  assert.ok(ok.ok);
  assert.equal(ok.value.workload.name, 'web');
  const bad = '{\n  "workload": {\n    "name": "web",\n    "inbound": { "mtlsMode": "LOOSE", "ports": [] }\n  }\n}\n';
  const r = loadBootstrapText(bad, 'b.json');
  assert.ok(!r.ok);
  assert.equal(r.error.located[0]!.line, 4);
  assert.match(r.error.message, /workload\.inbound\.mtlsMode: expected one of STRICT \| PERMISSIVE \| DISABLED/);
});

test('redirect routes: Location per Gateway API (prefix, full path, scheme, host, port), and what is refused', () => {
  const withRoutes = (routes: unknown[]) => ({ ...base, services: [{ name: 'catalog', ports: [{ port: 80, protocol: 'http1', routes }] }] });
  const r = compileSnapshot(withRoutes([
    { name: 'prefix', match: { pathPrefix: '/old/' }, backends: [], redirect: { prefix: '/new' } },
    { name: 'full', match: { pathExact: '/a' }, backends: [], redirect: { path: '/b', statusCode: 308 } },
    { name: 'https', match: { pathPrefix: '/s' }, backends: [], redirect: { scheme: 'https', host: 'shop.example', statusCode: 302 } },
    { name: 'port', match: { pathPrefix: '/p' }, backends: [], redirect: { port: 8443, scheme: 'https' } },
    { name: 'root', match: { pathPrefix: '/r' }, backends: [], redirect: { prefix: '/' } },
    { backends: [{ cluster: 'a' }] },
  ]));
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  const port = r.value.services.find((s) => s.name === 'catalog')!.ports.get(80)!;
  const location = (path: string, authority = 'catalog:80') => {
    const route = selectRoute(port, view('GET', path))!;
    return route.redirect ? `${route.redirect.status} ${redirectLocation(route.redirect, authority, path)}` : 'forward';
  };
  assert.equal(location('/old/x/y?z=1'), '301 http://catalog/new/x/y?z=1', 'prefix replaced at a segment boundary, default port dropped, query kept');
  assert.equal(location('/old'), '301 http://catalog/new');
  assert.equal(location('/a?q'), '308 http://catalog/b?q');
  assert.equal(location('/s/1', 'catalog:8080'), '302 https://shop.example/s/1', 'a new scheme drops the request port');
  assert.equal(location('/p', 'catalog:8080'), '301 https://catalog:8443/p');
  assert.equal(location('/r/x'), '301 http://catalog/x', 'a / replacement leaves one slash');
  assert.equal(location('/x', 'catalog:8080'), 'forward');
  assert.equal(location('/a', 'catalog:8080').endsWith('http://catalog:8080/b'), true, 'the request port is kept when nothing changes the scheme');

  const refused = (route: unknown, pattern: RegExp) => {
    const bad = compileSnapshot(withRoutes([route, { backends: [{ cluster: 'a' }] }]));
    assert.ok(!bad.ok && pattern.test(bad.error.message), bad.ok ? 'accepted' : bad.error.message);
  };
  refused({ match: { pathPrefix: '/x' }, backends: [{ cluster: 'a' }], redirect: { path: '/y' } }, /redirect route has no backends/);
  refused({ match: { pathExact: '/x' }, backends: [], redirect: { prefix: '/y' } }, /needs match.pathPrefix/);
  refused({ backends: [], redirect: { statusCode: 304 } }, /301, 302, 303, 307 or 308/);
  refused({ backends: [], redirect: { scheme: 'ftp' } }, /http or https/);
});

test('peerProtocol: h2 (the own codec) by default for meshed endpoints, plain otherwise; http1 on request', () => {
  const meshed = { address: '127.0.0.1', port: 8080, proxyPort: 15006, spiffeId: 'spiffe://test.local/ns/shop/sa/catalog' };
  const spec = structuredClone(base) as any;
  spec.clusters.push({ name: 'm', endpoints: [meshed] }, { name: 'm1', peerProtocol: 'http1', endpoints: [meshed] });
  const r = compileSnapshot(spec);
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  assert.equal(r.value.clusters.get('m')!.peerProtocol, 'h2');
  assert.equal(r.value.clusters.get('m1')!.peerProtocol, 'http1');
  assert.equal(r.value.clusters.get('a')!.peerProtocol, 'plain');
});
