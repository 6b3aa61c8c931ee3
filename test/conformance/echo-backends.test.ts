// Tests for the conformance echo backends (echo-basic HTTP/h2c/HTTPS/WebSocket/gRPC, echo-advanced) and
// the harness clients that talk to them, on real sockets on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { startEchoBasic, parseGoDuration, canonicalHeaderName } from '../support/echo-basic.ts';
import {
  startEchoAdvanced,
  parseEchoAdvanced,
  echoAdvancedGrpcClientConstructor,
  formatEchoAdvancedClientOutput,
} from '../support/echo-advanced.ts';
import { sendHttp, sendGrpc, exchangeWebSocket, echoSetHeaderValue } from './clients.ts';
import { generateConformanceCertificate, goHostnameMatches } from './tls-cert.ts';

const NS = 'gateway-conformance-infra';

test('parseGoDuration and canonicalHeaderName follow Go', () => {
  assert.equal(parseGoDuration('1s'), 1000);
  assert.equal(parseGoDuration('1m30s'), 90_000);
  assert.equal(parseGoDuration('1.5s'), 1500);
  assert.equal(parseGoDuration('250ms'), 250);
  assert.equal(parseGoDuration('0'), 0);
  assert.equal(parseGoDuration('1x'), undefined);
  assert.equal(parseGoDuration(''), undefined);
  assert.equal(canonicalHeaderName('x-echo-SET-header'), 'X-Echo-Set-Header');
});

test('echo-basic echoes the request as JSON, sets X-Echo-Set-Header headers and logs each echo', async (t) => {
  const echo = await startEchoBasic({ namespace: NS, podName: 'infra-backend-v1-7d9f8c6b5-abcde', service: 'infra-backend-v1' });
  t.after(() => echo.close());
  const address = { host: echo.host, port: echo.httpPort };
  const res = await sendHttp({
    address,
    protocol: 'HTTP',
    method: 'GET',
    host: 'example.com',
    path: '/a/b?x=1&y=2',
    headers: { version: 'one', 'X-Multi': 'a' },
    echoSetHeader: echoSetHeaderValue({ 'Some-Other-Header': 'val', 'x-dup': 'a' }) + ',x-dup:b',
    followRedirects: false,
  });
  assert.equal(res.statusCode, 200);
  assert.ok(res.echo);
  assert.equal(res.echo.path, '/a/b?x=1&y=2');
  assert.equal(res.echo.host, 'example.com');
  assert.equal(res.echo.method, 'GET');
  assert.equal(res.echo.proto, 'HTTP/1.1');
  assert.equal(res.echo.namespace, NS);
  assert.equal(res.echo.pod, 'infra-backend-v1-7d9f8c6b5-abcde');
  assert.equal(res.echo.service, 'infra-backend-v1');
  assert.equal(res.echo.httpPort, String(echo.httpPort));
  assert.deepEqual(res.echo.headers['Version'], ['one']);
  assert.equal(res.echo.headers['Host'], undefined, 'Host is a field, not a header, as in Go');
  assert.ok(res.echo.headers['X-Echo-Set-Header']);
  const header = (n: string) => res.headers.filter(([k]) => k.toLowerCase() === n.toLowerCase());
  assert.deepEqual(header('Some-Other-Header'), [['Some-Other-Header', 'val']], 'name case kept');
  assert.deepEqual(header('x-dup'), [['x-dup', 'a,b']], 'repeated name appended with a comma');
  assert.deepEqual(header('x-content-type-options'), [['X-Content-Type-Options', 'nosniff']]);
  assert.equal(echo.countEchoed('/a/b?x=1&y=2'), 1);
  assert.equal(echo.countEchoed('/a/b'), 0, 'the request URI is matched whole, query included');
  assert.match(echo.logLines[0] ?? '', /^Echoing back request made to \/a\/b\?x=1&y=2 to client \(127\.0\.0\.1:\d+\)$/);
});

test('echo-basic /status, /health and ?delay=', async (t) => {
  const echo = await startEchoBasic({ namespace: NS, podName: 'p-1-a' });
  t.after(() => echo.close());
  const base = { address: { host: echo.host, port: echo.httpPort }, protocol: 'HTTP' as const, method: 'GET', host: '', headers: {}, followRedirects: false };
  assert.equal((await sendHttp({ ...base, path: '/status/418' })).statusCode, 418);
  const health = await sendHttp({ ...base, path: '/health' });
  assert.equal(health.body, 'OK');
  const started = performance.now();
  const delayed = await sendHttp({ ...base, path: '/x?delay=200ms' });
  assert.equal(delayed.statusCode, 200);
  assert.ok(performance.now() - started >= 190, 'delay honoured');
  assert.equal((await sendHttp({ ...base, path: '/x?delay=bogus' })).statusCode, 400);
});

test('echo-basic /retry fails the first N attempts per uuid, with a code or a TCP reset', async (t) => {
  const echo = await startEchoBasic({ namespace: NS, podName: 'infra-backend-v3-1-a' });
  t.after(() => echo.close());
  const base = { address: { host: echo.host, port: echo.httpPort }, protocol: 'HTTP' as const, method: 'GET', host: '', headers: {}, followRedirects: false };
  const path = '/retry/x?responseCode=500&succeedAfter=2&uuid=u1';
  assert.equal((await sendHttp({ ...base, path })).statusCode, 500);
  assert.equal((await sendHttp({ ...base, path })).statusCode, 500);
  const ok = await sendHttp({ ...base, path });
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.echo?.path, path);
  assert.equal((await sendHttp({ ...base, path: '/retry/x?responseCode=503&succeedAfter=1&uuid=u2' })).statusCode, 503, 'uuids are counted apart');
  await assert.rejects(sendHttp({ ...base, path: '/retry/x?succeedAfter=1&uuid=u3' }), /ECONNRESET|socket hang up/);
  assert.equal((await sendHttp({ ...base, path: '/retry/x?succeedAfter=1&uuid=u3' })).statusCode, 200);
});

test('echo-basic h2c prior knowledge, WebSocket /ws, and HTTPS with the generated certificate', async (t) => {
  const cert = await generateConformanceCertificate();
  const echo = await startEchoBasic({ namespace: NS, podName: 'p-1-a', tls: cert });
  t.after(() => echo.close());
  const h2 = await sendHttp({
    address: { host: echo.host, port: echo.h2cPort! },
    protocol: 'H2C_PRIOR_KNOWLEDGE',
    method: 'GET',
    host: 'h2c.example',
    path: '/h2c',
    headers: { 'X-A': 'b' },
    followRedirects: false,
  });
  assert.equal(h2.statusCode, 200);
  assert.equal(h2.echo?.proto, 'HTTP/2.0');
  assert.equal(h2.echo?.host, 'h2c.example');
  assert.deepEqual(h2.echo?.headers['X-A'], ['b']);

  const frames = await exchangeWebSocket(`ws://${echo.host}:${echo.httpPort}/ws`, [{ text: 'Websocket Support!' }, { binary: [1, 2, 3, 4, 5, 6, 7] }]);
  assert.deepEqual(frames, [{ text: 'Websocket Support!' }, { binary: [1, 2, 3, 4, 5, 6, 7] }]);
  await assert.rejects(exchangeWebSocket(`ws://${echo.host}:${echo.httpPort}/not-ws`, [{ text: 'x' }]), /refused|404|Unexpected/);

  const tlsRes = await sendHttp({
    address: { host: echo.host, port: echo.httpsPort! },
    protocol: 'HTTPS',
    method: 'GET',
    host: 'example.org',
    path: '/tls',
    headers: {},
    followRedirects: false,
    ca: cert.cert,
  });
  assert.equal(tlsRes.statusCode, 200);
  assert.equal(tlsRes.echo?.tls?.serverName, 'example.org');
  assert.match(tlsRes.echo?.tls?.version ?? '', /TLSv1\.[23]/);
  await assert.rejects(
    sendHttp({ address: { host: echo.host, port: echo.httpsPort! }, protocol: 'HTTPS', method: 'GET', host: 'example.org', path: '/', headers: {}, followRedirects: false }),
    /self-signed|certificate/,
    'an untrusted certificate is refused',
  );
});

test('Go-style wildcard matching accepts `*` and `*.org` as the Go verifier does', () => {
  assert.equal(goHostnameMatches('*.org', 'example.org'), true);
  assert.equal(goHostnameMatches('*', 'localhost'), true);
  assert.equal(goHostnameMatches('*.wildcard.org', 'fourth-example.wildcard.org'), true);
  assert.equal(goHostnameMatches('*.org', 'a.example.org'), false);
  assert.equal(goHostnameMatches('*', 'example.org'), false);
});

test('echo-basic gRPC: Echo/EchoTwo return assertions, EchoThree is UNIMPLEMENTED', async (t) => {
  const echo = await startEchoBasic({ namespace: NS, podName: 'grpc-infra-backend-v1-5f6-xyz', service: 'grpc-infra-backend-v1', grpc: true });
  t.after(() => echo.close());
  const address = { host: echo.host, port: echo.httpPort };
  const one = await sendGrpc({ address, method: 'Echo', metadata: { Version: 'one' }, authority: 'grpc.example.com' });
  assert.equal(one.code, 'OK');
  assert.equal(one.assertions?.fully_qualified_method, '/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/Echo');
  assert.equal(one.assertions?.authority, 'grpc.example.com');
  assert.deepEqual(one.assertions?.context, { namespace: NS, ingress: '', service_name: 'grpc-infra-backend-v1', pod: 'grpc-infra-backend-v1-5f6-xyz' });
  assert.ok(one.assertions?.headers.some((h) => h.key === 'version' && h.value === 'one'));
  const two = await sendGrpc({ address, method: 'EchoTwo', metadata: {} });
  assert.equal(two.assertions?.fully_qualified_method, '/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/EchoTwo');
  assert.equal(two.assertions?.authority, `${echo.host}:${echo.httpPort}`);
  const three = await sendGrpc({ address, method: 'EchoThree', metadata: {} });
  assert.equal(three.code, 'UNIMPLEMENTED');
  assert.equal(echo.countEchoed('/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/Echo'), 1);
});

test('echo-advanced answers Key=Value lines over HTTP and gRPC; the parser reads them back', async (t) => {
  const echo = await startEchoAdvanced({ namespace: 'gateway-conformance-mesh', podName: 'echo-v1-6b7c-abc', version: 'v1' });
  t.after(() => echo.close());
  const text = await new Promise<{ status: number; body: string; headers: Array<[string, string]> }>((resolve, reject) => {
    const req = http.request({ host: echo.host, port: echo.httpPort, path: '/p?q=1', headers: { Host: 'echo', 'x-test': 'v' }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: [['X-Resp', 'r']] }));
    });
    req.on('error', reject);
    req.end();
  });
  const parsed = parseEchoAdvanced(formatEchoAdvancedClientOutput(text.status, text.headers, text.body));
  assert.equal(parsed.statusCode, 200);
  assert.equal(parsed.hostname, 'echo-v1-6b7c-abc');
  assert.equal(parsed.fields['URL'], '/p?q=1');
  assert.equal(parsed.fields['Host'], 'echo');
  assert.equal(parsed.fields['Method'], 'GET');
  assert.equal(parsed.fields['ServiceVersion'], 'v1');
  assert.ok(parsed.requestHeaders.some(([k, v]) => k === 'X-Test' && v === 'v'));
  assert.deepEqual(parsed.responseHeaders, [['X-Resp', 'r']]);
  assert.equal(parseEchoAdvanced('[0] StatusCode=302\n[0] StatusCode=200\n').statusCode, 302, 'the first StatusCode wins');

  const Ctor = echoAdvancedGrpcClientConstructor();
  const client = new Ctor(`${echo.host}:${echo.grpcPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'echo:7070' }) as any;
  t.after(() => client.close());
  const md = new grpc.Metadata();
  md.add('x-test-case', 'set');
  const reply = await new Promise<{ message: string }>((resolve, reject) => client.Echo({ message: 'hi' }, md, (e: Error | null, v: { message: string }) => (e ? reject(e) : resolve(v))));
  const g = parseEchoAdvanced(reply.message);
  assert.equal(g.hostname, 'echo-v1-6b7c-abc');
  assert.equal(g.fields['Host'], 'echo:7070');
  assert.equal(g.fields['Proto'], 'GRPC');
  assert.ok(g.requestHeaders.some(([k, v]) => k === 'X-Test-Case' && v === 'set'));
});
