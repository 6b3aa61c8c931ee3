import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Http1Parser, NEED_MORE, PARSE_ERROR, K_HOST, K_CONNECTION, K_CONNECTION_LISTED, K_OTHER } from './parser.ts';

const req = (s: string): Buffer => Buffer.from(s, 'latin1');

function parseAll(text: string, isResponse = false, limits = {}): Http1Parser {
  const p = new Http1Parser(isResponse, limits);
  const buf = req(text);
  const at = p.execute(buf, 0);
  assert.notEqual(at, NEED_MORE, 'head incomplete');
  return p;
}

function errorCode(text: string, isResponse = false, limits = {}): string | undefined {
  const p = new Http1Parser(isResponse, limits);
  const at = p.execute(req(text), 0);
  if (at !== PARSE_ERROR) return undefined;
  return p.error?.code;
}

test('parses a request head with routing headers extracted', () => {
  const text = 'POST /a/b?c=1 HTTP/1.1\r\nHost: catalog.shop:8080\r\nContent-Length: 5\r\nConnection: keep-alive, X-Trace\r\nX-Trace: 1\r\nExpect: 100-continue\r\nTE: trailers\r\n\r\nhello';
  const p = parseAll(text);
  const h = p.head;
  assert.equal(h.method, 'POST');
  assert.equal(h.target, '/a/b?c=1');
  assert.equal(h.versionMinor, 1);
  assert.equal(h.host, 'catalog.shop:8080');
  assert.equal(h.contentLength, 5);
  assert.equal(h.chunked, false);
  assert.equal(h.keepAlive, true);
  assert.equal(h.expectContinue, true);
  assert.equal(h.te, 'trailers');
  assert.equal(h.headerCount, 6);
  assert.equal(h.kinds[0], K_HOST);
  assert.equal(h.kinds[2], K_CONNECTION);
  assert.equal(h.kinds[3], K_CONNECTION_LISTED);
  assert.equal(h.get('x-trace'), '1');
  assert.equal(h.get('missing'), undefined);
  assert.deepEqual(h.headerList()[0], ['host', 'catalog.shop:8080']);
  assert.equal(req(text).subarray(h.end).toString(), 'hello');
});

test('the returned offset is where the body starts, also for heads split across chunks', () => {
  const text = 'GET / HTTP/1.1\r\nHost: a\r\nX-Long: ' + 'v'.repeat(300) + '\r\n\r\nBODY';
  for (const split of [1, 5, 15, 17, 30, 200, text.length - 5, text.length - 6]) {
    const p = new Http1Parser(false);
    const a = req(text.slice(0, split));
    const b = req(text.slice(split));
    assert.equal(p.execute(a, 0), NEED_MORE, `split ${split}`);
    const at = p.execute(b, 0);
    assert.ok(at >= 0, `split ${split}: ${p.error?.message}`);
    assert.equal(b.subarray(at).toString(), 'BODY');
    assert.equal(p.head.get('x-long'), 'v'.repeat(300));
    assert.equal(p.head.host, 'a');
  }
});

test('byte-at-a-time feeding parses the same head', () => {
  const text = 'GET /x HTTP/1.1\r\nHost: h\r\nA: 1\r\n\r\n';
  const p = new Http1Parser(false);
  let at = NEED_MORE;
  for (let i = 0; i < text.length; i++) {
    at = p.execute(req(text[i]!), 0);
    if (i < text.length - 1) assert.equal(at, NEED_MORE);
  }
  assert.equal(at, 1);
  assert.equal(p.head.target, '/x');
  assert.equal(p.head.get('a'), '1');
});

test('parses responses: status, reason, framing headers', () => {
  const p = parseAll('HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n', true);
  assert.equal(p.head.status, 404);
  assert.equal(p.head.reason, 'Not Found');
  assert.equal(p.head.chunked, true);
  assert.equal(p.head.keepAlive, false);
  const q = parseAll('HTTP/1.0 200\r\n\r\n', true);
  assert.equal(q.head.status, 200);
  assert.equal(q.head.keepAlive, false);
});

test('HTTP/1.0 keep-alive decision and absolute-form targets', () => {
  const a = parseAll('GET / HTTP/1.0\r\n\r\n');
  assert.equal(a.head.keepAlive, false);
  const b = parseAll('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n');
  assert.equal(b.head.keepAlive, true);
  const c = parseAll('GET http://catalog.shop:80/items?x=1 HTTP/1.1\r\nHost: ignored\r\n\r\n');
  assert.equal(c.head.absoluteForm, true);
  assert.equal(c.head.authority, 'catalog.shop:80');
  assert.equal(c.head.path, '/items?x=1');
  assert.equal(parseAll('GET /p HTTP/1.1\r\nHost: h\r\n\r\n').head.authority, 'h');
});

test('rejects request smuggling vectors with stable codes', () => {
  assert.equal(errorCode('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n'), 'HTTP1_CL_TE_CONFLICT');
  assert.equal(errorCode('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n'), 'HTTP1_DUPLICATE_CONTENT_LENGTH');
  assert.equal(errorCode('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n'), 'HTTP1_DUPLICATE_CONTENT_LENGTH');
  assert.equal(errorCode('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n'), 'HTTP1_BAD_CONTENT_LENGTH');
  assert.equal(errorCode('GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n'), 'HTTP1_OBS_FOLD');
  assert.equal(errorCode('GET / HTTP/1.1\nHost: a\r\n\r\n'), 'HTTP1_BARE_LF');
  assert.equal(errorCode('GET / HTTP/1.1\r\nHost: a\n\r\n'), 'HTTP1_BARE_LF');
  assert.equal(errorCode('GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n'), 'HTTP1_BARE_CR');
  assert.equal(errorCode('GET / HTTP/1.1\r\nHost : a\r\n\r\n'), 'HTTP1_WHITESPACE_BEFORE_COLON');
  assert.equal(errorCode('GET / HTTP/1.1\r\nHo(st: a\r\n\r\n'), 'HTTP1_BAD_HEADER_NAME');
  assert.equal(errorCode('GET / HTTP/1.1\r\nHost: a\u0000b\r\n\r\n'), 'HTTP1_BAD_HEADER_VALUE');
  assert.equal(errorCode('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n'), 'HTTP1_BAD_TRANSFER_ENCODING');
  assert.equal(errorCode('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n'), 'HTTP1_BAD_TRANSFER_ENCODING');
  assert.equal(errorCode('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n'), 'HTTP1_BAD_TRANSFER_ENCODING');
  assert.equal(errorCode('POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n'), 'HTTP1_BAD_TRANSFER_ENCODING');
  assert.equal(errorCode('GET / HTTP/1.1\r\n\r\n'), 'HTTP1_MISSING_HOST');
  assert.equal(errorCode('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'), 'HTTP1_DUPLICATE_HOST');
  assert.equal(errorCode('GET / HTTP/2.0\r\nHost: a\r\n\r\n'), 'HTTP1_VERSION_NOT_SUPPORTED');
  assert.equal(errorCode('GET  / HTTP/1.1\r\nHost: a\r\n\r\n'), 'HTTP1_BAD_TARGET');
  assert.equal(errorCode('G@T / HTTP/1.1\r\nHost: a\r\n\r\n'), 'HTTP1_BAD_METHOD');
  assert.equal(errorCode('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n'), 'HTTP1_BAD_METHOD');
  assert.equal(errorCode('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', true), 'HTTP1_CL_TE_CONFLICT');
  assert.equal(errorCode('HTTP/1.1 2x0 OK\r\n\r\n', true), 'HTTP1_BAD_STATUS_LINE');
});

test('limits: header bytes and header count give 431', () => {
  const p = new Http1Parser(false, { maxHeaderBytes: 1024 });
  assert.equal(p.execute(req('GET / HTTP/1.1\r\nHost: a\r\nX: ' + 'a'.repeat(2000) + '\r\n\r\n'), 0), PARSE_ERROR);
  assert.equal(p.error?.code, 'HTTP1_HEADERS_TOO_LARGE');
  assert.equal(p.error?.status, 431);
  // Split across chunks, never complete: 431 once the limit is passed.
  const q = new Http1Parser(false, { maxHeaderBytes: 1024 });
  assert.equal(q.execute(req('GET / HTTP/1.1\r\nX: '), 0), NEED_MORE);
  let r = NEED_MORE;
  for (let i = 0; i < 20 && r === NEED_MORE; i++) r = q.execute(req('a'.repeat(100)), 0);
  assert.equal(r, PARSE_ERROR);
  assert.equal(q.error?.status, 431);
  const many = 'GET / HTTP/1.1\r\nHost: a\r\n' + Array.from({ length: 10 }, (_, i) => `X-${i}: v\r\n`).join('') + '\r\n';
  assert.equal(errorCode(many, false, { maxHeaders: 5 }), 'HTTP1_TOO_MANY_HEADERS');
  assert.equal(errorCode(many, false, { maxHeaders: 50 }), undefined);
});

test('reset() allows the next pipelined head in the same buffer', () => {
  const two = req('GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: b\r\nX: y\r\n\r\n');
  const p = new Http1Parser(false);
  const first = p.execute(two, 0);
  assert.equal(p.head.target, '/1');
  p.reset();
  const second = p.execute(two, first);
  assert.equal(second, two.length);
  assert.equal(p.head.target, '/2');
  assert.equal(p.head.host, 'b');
  assert.equal(p.head.kinds[1], K_OTHER);
});

test('ignores empty lines before a request line', () => {
  const p = parseAll('\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.equal(p.head.method, 'GET');
});

test('CONNECT: the authority is the authority-form target', () => {
  const p = parseAll('CONNECT db.shop:5432 HTTP/1.1\r\nHost: db.shop:5432\r\n\r\n');
  assert.equal(p.head.method, 'CONNECT');
  assert.equal(p.head.authority, 'db.shop:5432');
});

/** Small seeded PRNG (mulberry32) so a failing case can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('fuzz: mutated and randomly split heads never throw, and agree with the unsplit parse', () => {
  const seeds = [
    'GET /a HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n',
    'POST /p?q HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: close, x-b\r\nX-B: 2\r\n\r\nabc',
    'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n',
  ];
  const alphabet = [0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x00, 0x7f, 0xff, 0x41, 0x2c, 0x30];
  const random = rng(1234);
  for (let iter = 0; iter < 4000; iter++) {
    const base = Buffer.from(seeds[iter % seeds.length]!, 'latin1');
    const bytes = Buffer.from(base);
    const mutations = Math.floor(random() * 4);
    for (let m = 0; m < mutations; m++) bytes[Math.floor(random() * bytes.length)] = alphabet[Math.floor(random() * alphabet.length)]!;
    const isResponse = bytes[0] === 0x48 && bytes[1] === 0x54;
    const whole = new Http1Parser(isResponse);
    const r1 = whole.execute(bytes, 0);
    const split = new Http1Parser(isResponse);
    const cut = 1 + Math.floor(random() * (bytes.length - 1));
    let r2 = split.execute(bytes.subarray(0, cut), 0);
    if (r2 === NEED_MORE) {
      const r = split.execute(bytes.subarray(cut), 0);
      r2 = r >= 0 ? r + cut : r;
    }
    assert.equal(r2, r1, `case ${iter}: ${JSON.stringify(bytes.toString('latin1'))} split at ${cut}`);
    if (r1 === PARSE_ERROR) assert.equal(split.error?.code, whole.error?.code, `case ${iter}`);
    if (r1 >= 0) assert.deepEqual(split.head.headerList(), whole.head.headerList());
  }
});

test('fuzz: long field lines split anywhere never turn a rejected head into an accepted one (or back)', () => {
  const base = Buffer.from(`GET / HTTP/1.1\r\nHost: h\r\nCookie: ${'c'.repeat(600)}\r\nX-A: ${'a'.repeat(300)}\r\n\r\n`, 'latin1');
  const random = rng(77);
  for (let iter = 0; iter < 1500; iter++) {
    const bytes = Buffer.from(base);
    const mutations = Math.floor(random() * 3);
    for (let m = 0; m < mutations; m++) bytes[Math.floor(random() * bytes.length)] = [0x0d, 0x0a, 0x00, 0x20, 0x3a][Math.floor(random() * 5)]!;
    const whole = new Http1Parser(false).execute(bytes, 0);
    const split = new Http1Parser(false);
    let at = NEED_MORE;
    let off = 0;
    while (at === NEED_MORE && off < bytes.length) {
      const next = Math.min(bytes.length, off + 1 + Math.floor(random() * 200));
      const r = split.execute(bytes.subarray(off, next), 0);
      at = r >= 0 ? r + off : r;
      off = next;
    }
    // A split parse may only be *later* to reject (a long unfinished line is checked once complete).
    if (whole >= 0) assert.equal(at, whole, `case ${iter}`);
    else assert.notEqual(at >= 0, true, `case ${iter}: whole rejected (${whole}) but split accepted`);
  }
});

test('a head trickled one byte at a time costs linear time', () => {
  const text = Buffer.from('GET / HTTP/1.1\r\nHost: a\r\nX-Long: ' + 'a'.repeat(60_000) + '\r\n\r\n', 'latin1');
  const p = new Http1Parser(false);
  const started = process.cpuUsage();
  let at = NEED_MORE;
  for (let i = 0; i < text.length && at === NEED_MORE; i++) at = p.execute(text.subarray(i, i + 1), 0);
  const used = process.cpuUsage(started);
  assert.equal(at, 1);
  assert.equal(p.head.get('x-long')!.length, 60_000);
  // Quadratic rescanning would take tens of seconds here; linear takes well under one.
  assert.ok((used.user + used.system) / 1000 < 1500, `${(used.user + used.system) / 1000} ms CPU`);
});

test('keep-alive reuse: host, target and reason are right when the next message repeats or changes them (same length included)', () => {
  const p = new Http1Parser(false);
  const heads = [
    ['GET /a HTTP/1.1\r\nHost: svc-a\r\n\r\n', '/a', 'svc-a'],
    ['GET /a HTTP/1.1\r\nHost: svc-a\r\n\r\n', '/a', 'svc-a'],
    ['GET /b HTTP/1.1\r\nHost: svc-b\r\n\r\n', '/b', 'svc-b'],
    ['GET /b HTTP/1.1\r\nHost: SVC-B\r\n\r\n', '/b', 'SVC-B'],
    ['GET /bb HTTP/1.1\r\nHost: svc\r\n\r\n', '/bb', 'svc'],
    ['GET / HTTP/1.1\r\nHost: \r\n\r\n', '/', ''],
  ] as const;
  for (const [text, target, host] of heads) {
    p.reset();
    assert.ok(p.execute(req(text), 0) >= 0, text);
    assert.equal(p.head.target, target);
    assert.equal(p.head.host, host);
  }
  const r = new Http1Parser(true);
  for (const [text, reason] of [['HTTP/1.1 200 OK\r\n\r\n', 'OK'], ['HTTP/1.1 200 OK\r\n\r\n', 'OK'], ['HTTP/1.1 200 Ok\r\n\r\n', 'Ok'], ['HTTP/1.1 404 Not Found\r\n\r\n', 'Not Found'], ['HTTP/1.1 200\r\n\r\n', '']] as const) {
    r.reset();
    assert.ok(r.execute(req(text), 0) >= 0, text);
    assert.equal(r.head.reason, reason);
  }
});

test('Connection and Transfer-Encoding single tokens in any case; lists still parsed', () => {
  const cases: Array<[string, { keepAlive: boolean; close?: boolean; upgrade?: boolean; tokens?: string[] | null }]> = [
    ['GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n', { keepAlive: true }],
    ['GET / HTTP/1.0\r\nConnection: keep-alivE\r\n\r\n', { keepAlive: true }],
    ['GET / HTTP/1.0\r\nConnection: keep-alivf\r\n\r\n', { keepAlive: false, tokens: ['keep-alivf'] }],
    ['GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n', { keepAlive: false, close: true }],
    ['GET / HTTP/1.1\r\nHost: a\r\nConnection: clos\r\n\r\n', { keepAlive: true, tokens: ['clos'] }],
    ['GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n\r\n', { keepAlive: true, upgrade: true }],
    ['GET / HTTP/1.1\r\nHost: a\r\nConnection: close, x-a\r\n\r\n', { keepAlive: false, close: true, tokens: ['x-a'] }],
  ];
  for (const [text, want] of cases) {
    const h = parseAll(text).head;
    assert.equal(h.keepAlive, want.keepAlive, text);
    assert.equal(h.connectionClose, want.close ?? false, text);
    assert.equal(h.connectionUpgrade, want.upgrade ?? false, text);
    assert.deepEqual(h.connectionTokens, want.tokens ?? null, text);
  }
  for (const te of ['chunked', 'Chunked', 'CHUNKED', 'gzip, chunked']) {
    const h = parseAll(`POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ${te}\r\n\r\n`).head;
    assert.equal(h.chunked, true, te);
  }
  assert.equal(errorCode('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkee\r\n\r\n'), 'HTTP1_BAD_TRANSFER_ENCODING');
  assert.equal(errorCode('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n'), 'HTTP1_BAD_TRANSFER_ENCODING');
});

test('inChunk: true when the head was completed in the chunk given, false when held across reads', () => {
  const text = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n';
  const p = new Http1Parser(false);
  const whole = req(text);
  assert.ok(p.execute(whole, 0) >= 0);
  assert.equal(p.head.inChunk, true);
  assert.equal(p.head.buf, whole);
  p.reset();
  assert.equal(p.head.inChunk, false);
  assert.equal(p.execute(req(text.slice(0, 20)), 0), NEED_MORE);
  const rest = req(text.slice(20));
  assert.ok(p.execute(rest, 0) >= 0);
  assert.equal(p.head.inChunk, false);
  assert.notEqual(p.head.buf, rest);
  assert.equal(p.head.host, 'a');
});
