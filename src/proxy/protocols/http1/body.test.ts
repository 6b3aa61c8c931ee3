import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BodyFramer, FRAMING_CHUNKED, FRAMING_LENGTH, FRAMING_CLOSE, FRAMING_NONE, responseFraming, lastChunkWithTrailers, type BodySink } from './body.ts';
import { Http1Parser } from './parser.ts';

function collector(): BodySink & { data: string; trailers: Array<[string, string]> | null } {
  return {
    data: '',
    trailers: null,
    onBodyData(buf, s, e) {
      this.data += buf.toString('latin1', s, e);
    },
    onTrailers(t) {
      this.trailers = t;
    },
  };
}

test('content-length body ends exactly and leaves the next message', () => {
  const f = new BodyFramer();
  f.start(FRAMING_LENGTH, 5);
  const buf = Buffer.from('helloGET /');
  assert.equal(f.feed(buf, 0, buf.length), 5);
  assert.equal(f.done, true);
});

test('chunked body: extensions, trailers, end position, any split', () => {
  const body = '5;ext=1\r\nhello\r\n1A\r\n' + 'x'.repeat(26) + '\r\n0\r\nGrpc-Status: 0\r\nX-T: a b\r\n\r\n';
  const next = 'GET / HTTP/1.1\r\n';
  const all = Buffer.from(body + next);
  for (let split = 0; split <= body.length; split++) {
    const f = new BodyFramer();
    const sink = collector();
    f.start(FRAMING_CHUNKED, 0, sink);
    const a = all.subarray(0, split);
    const b = all.subarray(split);
    const n1 = f.feed(a, 0, a.length);
    assert.equal(n1, a.length, `split ${split}`);
    const n2 = f.feed(b, 0, b.length);
    assert.equal(f.done, true, `split ${split}`);
    assert.equal(n1 + n2, body.length);
    assert.equal(sink.data, 'hello' + 'x'.repeat(26));
    assert.deepEqual(sink.trailers, [
      ['grpc-status', '0'],
      ['x-t', 'a b'],
    ]);
  }
});

test('chunked pass-through without a sink consumes the same bytes', () => {
  const f = new BodyFramer();
  f.start(FRAMING_CHUNKED, 0);
  const b = Buffer.from('3\r\nabc\r\n0\r\n\r\nrest');
  assert.equal(f.feed(b, 0, b.length), b.length - 4);
  assert.equal(f.done, true);
  assert.equal(f.bodyBytes, 3);
});

test('bad chunk framing is rejected', () => {
  const cases: Array<[string, string]> = [
    ['zz\r\n', 'HTTP1_BAD_CHUNK'],
    ['fffffffffffffffffff\r\n', 'HTTP1_CHUNK_TOO_LARGE'],
    ['3\nabc\r\n', 'HTTP1_BARE_LF'],
    ['3\r\nabcX\r\n', 'HTTP1_BAD_CHUNK'],
    ['3\r\nabc\r\n0\r\nX: a\n\r\n', 'HTTP1_BARE_LF'],
    ['3;a\x00\r\n', 'HTTP1_BAD_CHUNK'],
    ['\r\n', 'HTTP1_BAD_CHUNK'],
    ['1;' + 'e'.repeat(5000) + '\r\n', 'HTTP1_BAD_CHUNK'],
  ];
  for (const [input, code] of cases) {
    const f = new BodyFramer();
    f.start(FRAMING_CHUNKED, 0);
    const b = Buffer.from(input, 'latin1');
    assert.equal(f.feed(b, 0, b.length), -1, JSON.stringify(input));
    assert.equal(f.error?.code, code, JSON.stringify(input));
  }
});

test('response framing: HEAD, 1xx, 204, 304 carry no body; no length means until close', () => {
  const parse = (s: string) => {
    const p = new Http1Parser(true);
    p.execute(Buffer.from(s), 0);
    return p.head;
  };
  assert.equal(responseFraming(parse('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'), 'HEAD'), FRAMING_NONE);
  assert.equal(responseFraming(parse('HTTP/1.1 204 No Content\r\n\r\n'), 'GET'), FRAMING_NONE);
  assert.equal(responseFraming(parse('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n'), 'GET'), FRAMING_NONE);
  assert.equal(responseFraming(parse('HTTP/1.1 100 Continue\r\n\r\n'), 'POST'), FRAMING_NONE);
  assert.equal(responseFraming(parse('HTTP/1.1 200 OK\r\n\r\n'), 'GET'), FRAMING_CLOSE);
  assert.equal(responseFraming(parse('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 'GET'), FRAMING_NONE);
  assert.equal(responseFraming(parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), 'GET'), FRAMING_CHUNKED);
  const f = new BodyFramer({ isResponse: true });
  f.start(FRAMING_CLOSE, 0);
  assert.equal(f.feed(Buffer.from('abc'), 0, 3), 3);
  assert.equal(f.done, false);
  assert.equal(f.finishOnClose(), true);
  const g = new BodyFramer();
  g.start(FRAMING_LENGTH, 10);
  g.feed(Buffer.from('abc'), 0, 3);
  assert.equal(g.finishOnClose(), false);
});

test('lastChunkWithTrailers serialises trailers', () => {
  assert.equal(lastChunkWithTrailers([['grpc-status', '0']]).toString(), '0\r\ngrpc-status: 0\r\n\r\n');
  assert.equal(lastChunkWithTrailers([]).toString(), '0\r\n\r\n');
});

test('fuzz: chunked bodies cut into random pieces decode to the same payload and end at the same byte', () => {
  let seed = 99;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  for (let iter = 0; iter < 300; iter++) {
    let payload = '';
    let wire = '';
    const chunks = 1 + Math.floor(random() * 6);
    for (let c = 0; c < chunks; c++) {
      const len = 1 + Math.floor(random() * 40);
      const data = Array.from({ length: len }, () => String.fromCharCode(0x20 + Math.floor(random() * 90))).join('');
      payload += data;
      wire += `${len.toString(16)}${random() < 0.3 ? ';e=1' : ''}\r\n${data}\r\n`;
    }
    wire += random() < 0.5 ? '0\r\n\r\n' : '0\r\nX-T: v\r\n\r\n';
    const all = Buffer.from(wire + 'NEXT', 'latin1');
    const f = new BodyFramer();
    const sink = collector();
    f.start(FRAMING_CHUNKED, 0, sink);
    let off = 0;
    let consumed = 0;
    while (!f.done) {
      const end = Math.min(all.length, off + 1 + Math.floor(random() * 17));
      const piece = all.subarray(off, end);
      const n = f.feed(piece, 0, piece.length);
      assert.ok(n >= 0, f.error?.message);
      consumed += n;
      off = end;
    }
    assert.equal(consumed, wire.length);
    assert.equal(sink.data, payload);
  }
});
