import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveAdminRoutes, hostNameOf } from './admin.ts';

const seen: unknown[] = [];
const server = serveAdminRoutes(
  {
    'GET /api/thing/:id': ({ params }) => ({ status: 200, body: { id: params[0] } }),
    'POST /api/do': ({ body }) => {
      seen.push(body);
      return { status: 200, body: { done: true } };
    },
  },
  { 'POST /identity/x': async ({ body }) => ({ status: 200, body: { got: body } }) },
);
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;
after(() => server.close());

function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false, setHost: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('admin API: loopback Host names (with port) are answered', async () => {
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'LOCALHOST', '127.0.0.1']) {
    const r = await send('GET', '/api/thing/a%2Fb', { host });
    assert.equal(r.status, 200, host);
    assert.deepEqual(r.json, { id: 'a/b' });
  }
});

test('admin API: a request with an Origin header is refused (CSRF from a web page)', async () => {
  for (const origin of ['http://evil.example', 'null', `http://127.0.0.1:${port}`]) {
    const r = await send('GET', '/api/thing/1', { host: `127.0.0.1:${port}`, origin });
    assert.equal(r.status, 403, origin);
    assert.equal(r.json.error.code, 'ADMIN_ORIGIN_REFUSED');
  }
  const post = await send('POST', '/api/do', { host: `127.0.0.1:${port}`, origin: 'http://evil.example', 'content-type': 'application/json' }, '{}');
  assert.equal(post.status, 403);
  assert.equal(seen.length, 0, 'the handler never ran');
});

test('admin API: a Host that is not loopback is refused (DNS rebinding)', async () => {
  for (const host of [`evil.example:${port}`, '127.0.0.1.evil.example', 'localhost.evil.example:80', '10.0.0.1', '[::2]:1']) {
    const r = await send('GET', '/api/thing/1', { host });
    assert.equal(r.status, 403, host);
    assert.equal(r.json.error.code, 'ADMIN_HOST_REFUSED');
  }
  const none = await new Promise<number>((resolve, reject) => {
    // no Host header: node's parser answers 400 itself (HTTP/1.1 requires Host); either way, refused
    const s = http.request({ host: '127.0.0.1', port, path: '/api/thing/1', agent: false, setHost: false }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    s.on('error', reject);
    s.end();
  });
  assert.ok(none === 400 || none === 403, `no Host header: ${none}`);
});

test('admin API: POST needs content-type application/json; bad JSON is a 400, not an empty body', async () => {
  const h = { host: `127.0.0.1:${port}` };
  for (const type of [undefined, 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
    const r = await send('POST', '/api/do', type ? { ...h, 'content-type': type } : h, '{"a":1}');
    assert.equal(r.status, 415, String(type));
    assert.equal(r.json.error.code, 'ADMIN_CONTENT_TYPE');
  }
  const extra = await send('POST', '/identity/x', { ...h, 'content-type': 'text/plain' }, '{"force":true}');
  assert.equal(extra.status, 415, 'extra (identity) routes are guarded too');
  assert.equal(seen.length, 0);
  const ok = await send('POST', '/api/do', { ...h, 'content-type': 'application/json; charset=utf-8' }, '{"a":1}');
  assert.equal(ok.status, 200);
  assert.deepEqual(seen, [{ a: 1 }]);
  const bad = await send('POST', '/api/do', { ...h, 'content-type': 'application/json' }, '{not json');
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, 'ADMIN_BAD_JSON');
  assert.equal(seen.length, 1);
});

test('hostNameOf strips the port, keeps IPv6 brackets', () => {
  assert.equal(hostNameOf('[::1]:15014'), '[::1]');
  assert.equal(hostNameOf('LocalHost:1'), 'localhost');
  assert.equal(hostNameOf('127.0.0.1'), '127.0.0.1');
});
