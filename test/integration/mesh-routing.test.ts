// HTTPRoute matches that travel the whole way — files store, compiler, xDS, the proxy's translation,
// its route table — checked with real traffic between weft proxies over mTLS: query parameter
// matches (exact and regular expression) pick the backend, and a route the weft proxy cannot apply
// (a URL rewrite) is left out rather than sent on with the original path; a RequestRedirect is
// answered by the client's proxy itself, with the Location the filter describes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { configDir, servicesYaml, controlPlane } from '../support/control-plane.ts';
import { catalogMesh, viaProxy } from '../support/mesh.ts';
import { waitFor } from '../support/wait.ts';

const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: catalog}
spec:
  parentRefs: [{group: "", kind: Service, name: catalog}]
  rules:
    - matches: [{path: {type: PathPrefix, value: /items}, queryParams: [{name: version, value: v2}]}]
      backendRefs: [{name: catalog-v2, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /items}, queryParams: [{type: RegularExpression, name: id, value: "9[0-9]*"}]}]
      backendRefs: [{name: catalog-v2, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /old}}]
      filters:
        - type: URLRewrite
          urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}
      backendRefs: [{name: catalog-v2, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /legacy}}]
      filters:
        - type: RequestRedirect
          requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}, statusCode: 301}
    - matches: [{path: {type: PathPrefix, value: /secure}}]
      filters:
        - type: RequestRedirect
          requestRedirect: {scheme: https, hostname: shop.example, statusCode: 302}
    - backendRefs: [{name: catalog, port: 80}]
`;

const dir = await configDir({ 'services.yaml': servicesYaml('web', 'catalog', 'catalog-v2'), 'route.yaml': ROUTE });
const cp = await controlPlane({ configDir: dir.dir });
const { v1, v2, web, close } = await catalogMesh(cp);
after(async () => {
  await close();
  await cp.close();
  await dir.remove();
});
const out = web.outboundPort!;
const answer = async (path: string) => (await viaProxy(out, 'catalog', path)).body;

test('query parameter matches from an HTTPRoute pick the backend through the weft proxies', async () => {
  // Converged once both catalog endpoints are known and the query route answers from v2.
  await waitFor(async () => (await answer('/items?version=v2')) === 'v2', 'the query route reaches v2', 20_000);
  assert.equal(await answer('/items?version=v1'), 'v1', 'other value: the default rule');
  assert.equal(await answer('/items'), 'v1', 'no query: the default rule');
  assert.equal(await answer('/items?a=1&version=v2'), 'v2', 'position in the query does not matter');
  assert.equal(await answer('/items?id=912'), 'v2', 'regular expression match');
  assert.equal(await answer('/items?id=1912'), 'v1', 'the expression matches the whole value');
  assert.equal(await answer('/other?version=v2'), 'v1', 'the path match still applies');
});

test('a route with a URL rewrite is left out by the weft proxy, so its requests are never sent on unrewritten', async () => {
  await waitFor(async () => (await answer('/items?version=v2')) === 'v2', 'converged', 20_000);
  // /old/x would reach v2 as /old/x if the rewrite were ignored; left out, it falls to the default rule.
  assert.equal(await answer('/old/x'), 'v1');
});

test('RequestRedirect routes are answered by the proxy with the status and Location the filter describes', async () => {
  await waitFor(async () => (await answer('/items?version=v2')) === 'v2', 'converged', 20_000);
  const hitsBefore = v1.hits + v2.hits;
  const prefix = await viaProxy(out, 'catalog', '/legacy/items/7?full=1');
  assert.equal(prefix.status, 301);
  assert.equal(prefix.headers.location, 'http://catalog/v2/items/7?full=1', 'the matched prefix replaced, the query kept');
  const scheme = await viaProxy(out, 'catalog:80', '/secure/login');
  assert.equal(scheme.status, 302);
  assert.equal(scheme.headers.location, 'https://shop.example/secure/login', 'scheme and host replaced; the port dropped with the scheme');
  assert.equal(scheme.headers['weft-error'], undefined, 'a redirect is an answer, not a proxy failure');
  // The same from an HTTP/2 (h2c) client, which takes the proxy's Exchange path instead of the
  // HTTP/1 fast path.
  const session = http2.connect(`http://127.0.0.1:${out}`);
  try {
    const h2 = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const stream = session.request({ ':path': '/legacy/a?b=c', ':authority': 'catalog' }, { endStream: true });
      stream.on('response', (headers) => resolve(headers));
      stream.on('error', reject);
      stream.resume();
    });
    assert.equal(h2[':status'], 301);
    assert.equal(h2.location, 'http://catalog/v2/a?b=c');
  } finally {
    session.close();
  }
  assert.equal(v1.hits + v2.hits, hitsBefore, 'no backend saw the redirected requests');
});
