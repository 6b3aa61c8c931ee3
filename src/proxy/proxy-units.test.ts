import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify } from './protocols/detect.ts';
import { rescue, ProxyError, connectError, fromUpstreamError, ERROR_MAP, GrpcStatus } from './errors.ts';
import { parseGrpcTimeout } from './layers/timeout.ts';
import { endToEnd } from './protocols/exchange.ts';
import { applyHeaderEdit } from './layers/header-edit.ts';
import { tunnelPreface } from './protocols/mesh-tls.ts';

test('detection classifies TLS, h2 preface, HTTP/1 methods and opaque bytes; waits when unsure', () => {
  assert.equal(classify(Buffer.from([0x16, 0x03, 0x01])), 'tls');
  assert.equal(classify(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), 'h2');
  assert.equal(classify(Buffer.from('PRI * HTTP/2')), undefined);
  assert.equal(classify(Buffer.from('GET / HTTP/1.1\r\n')), 'http1');
  assert.equal(classify(Buffer.from('PATCH /x')), 'http1');
  assert.equal(classify(Buffer.from('GE')), undefined);
  assert.equal(classify(Buffer.from('GET http://a/ HTTP/1.1')), 'http1');
  assert.equal(classify(Buffer.from('GET ')), undefined);
  assert.equal(classify(Buffer.from('EHLO mail\r\n')), 'tcp', 'client-first protocols that start with a word stay TCP');
  assert.equal(classify(Buffer.from('PING\r\n')), 'tcp');
  assert.equal(classify(Buffer.from('CONNECT {"verbose":false}\r\n')), 'tcp');
  assert.equal(classify(Buffer.from([0x00, 0x00, 0x01])), 'tcp');
  assert.equal(classify(Buffer.from('\x03\x00\x00')), 'tcp');
  assert.equal(classify(Buffer.alloc(0)), undefined);
});

test('one mapping: every code has an HTTP and a gRPC status; rescue builds weft-error', () => {
  for (const [code, m] of Object.entries(ERROR_MAP)) {
    assert.ok(m.http >= 400 && m.http < 600, code);
    assert.ok(m.grpc > 0, code);
  }
  const e = new ProxyError('NO_HEALTHY_ENDPOINT', 'no healthy endpoints for catalog.shop (3 of 3 ejected)');
  const http = rescue(e, { grpc: false, where: 'test' });
  assert.equal(http.status, 503);
  assert.equal(http.headers['weft-error'], 'NO_HEALTHY_ENDPOINT; no healthy endpoints for catalog.shop (3 of 3 ejected)');
  assert.match(http.body, /NO_HEALTHY_ENDPOINT/);
  const grpc = rescue(new ProxyError('REQUEST_TIMEOUT', 'slow\nsecond line'), { grpc: true, where: 'test' });
  assert.equal(grpc.status, 200);
  assert.equal(grpc.headers['grpc-status'], String(GrpcStatus.DEADLINE_EXCEEDED));
  assert.equal(grpc.headers['weft-error'], 'REQUEST_TIMEOUT; slow second line', 'one line, printable');
  assert.equal(rescue(new Error('boom'), { grpc: false, where: 'x' }).status, 502);
  assert.equal(rescue(e, { grpc: false, head: true, where: 'x' }).body, '');
});

test('socket and engine failures map to stable codes', () => {
  assert.equal(connectError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 't').code, 'CONNECT_REFUSED');
  assert.equal(connectError(Object.assign(new Error('x'), { code: 'ECONNRESET' }), 't').code, 'UPSTREAM_RESET');
  assert.equal(connectError(Object.assign(new Error('ssl alert handshake failure:'), { code: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' }), 't').code, 'TLS_HANDSHAKE_FAILED');
  assert.equal(fromUpstreamError({ code: 'UPSTREAM_CONNECT_FAILED', cause: { code: 'IDENTITY_PEER_REJECTED' } }), 'PEER_IDENTITY_MISMATCH');
  assert.equal(fromUpstreamError({ code: 'UPSTREAM_RESPONSE_TIMEOUT' }), 'REQUEST_TIMEOUT');
  assert.equal(fromUpstreamError({ code: 'UPSTREAM_POOL_EXHAUSTED' }), 'POOL_OVERFLOW');
});

test('grpc-timeout parsing', () => {
  assert.equal(parseGrpcTimeout('100m'), 100);
  assert.equal(parseGrpcTimeout('2S'), 2000);
  assert.equal(parseGrpcTimeout('1H'), 3_600_000);
  assert.equal(parseGrpcTimeout('500u'), 1);
  assert.equal(parseGrpcTimeout('123456789m'), undefined, 'at most 8 digits');
  assert.equal(parseGrpcTimeout('10x'), undefined);
  assert.equal(parseGrpcTimeout(undefined), undefined);
});

test('hop-by-hop headers and those named in Connection are dropped; te: trailers survives', () => {
  const h = endToEnd({ ':path': '/', connection: 'x-secret, keep-alive', 'x-secret': '1', 'keep-alive': 'timeout=5', te: 'trailers, deflate', host: 'a', 'x-ok': '2', upgrade: 'h2c' } as never);
  assert.deepEqual(h, { te: 'trailers', 'x-ok': '2' });
  const edit = { set: [['x-a', '1']] as const, add: [['x-b', '2']] as const, remove: ['x-ok'] };
  const target: Record<string, string | string[]> = { 'x-ok': '2', 'x-b': '1' };
  applyHeaderEdit(target, edit as never);
  assert.deepEqual(target, { 'x-b': ['1', '2'], 'x-a': '1' });
});

test('TCP tunnel preface: version 1 and the port big-endian', () => {
  assert.deepEqual([...tunnelPreface(5432)], [1, 0x15, 0x38]);
});
