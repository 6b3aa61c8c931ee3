// Unit tests of the Exchange over an own-codec server stream: head parsing, response lists, body
// back-pressure (the stream's window re-opens only as the body is read), errors and aborts — against a
// recording fake stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { H2StreamExchange, parseRequestHead, toHeaderList } from './h2-exchange.ts';
import { ProxyError } from '../errors.ts';
import type { H2HeaderList, H2Session, H2Stream } from './h2/api.ts';

class FakeStream implements H2Stream {
  readonly id = 1;
  context: unknown = null;
  onHeaders: H2Stream['onHeaders'] = null;
  onData: H2Stream['onData'] = null;
  onTrailers: H2Stream['onTrailers'] = null;
  onWritable: H2Stream['onWritable'] = null;
  onClose: H2Stream['onClose'] = null;
  closed = false;
  localEnded = false;
  remoteEnded = false;
  consumed = 0;
  writable = true;
  readonly sent: Array<{ kind: string; value: unknown; end: boolean }> = [];
  resetCode: number | null = null;

  sendHeaders(headers: H2HeaderList, endStream: boolean): void {
    this.sent.push({ kind: 'headers', value: headers, end: endStream });
    if (endStream) this.localEnded = true;
  }
  sendData(chunk: Buffer, endStream: boolean): boolean {
    this.sent.push({ kind: 'data', value: chunk.toString(), end: endStream });
    if (endStream) this.localEnded = true;
    return this.writable;
  }
  sendTrailers(trailers: H2HeaderList): void {
    this.sent.push({ kind: 'trailers', value: trailers, end: true });
    this.localEnded = true;
  }
  end(): void {
    this.sent.push({ kind: 'end', value: null, end: true });
    this.localEnded = true;
  }
  reset(code: number): void {
    if (this.closed) return;
    this.resetCode = code;
    this.closed = true;
    this.onClose?.(code, undefined);
  }
  consume(bytes: number): void {
    this.consumed += bytes;
  }
}

const session = { socket: { remoteAddress: '10.0.0.9' } } as unknown as H2Session;

function exchange(head: H2HeaderList, endStream: boolean): { ex: H2StreamExchange; stream: FakeStream } {
  const stream = new FakeStream();
  return { ex: new H2StreamExchange(session, stream, parseRequestHead(head), endStream), stream };
}

test('parseRequestHead: pseudo-headers, cookies joined with "; ", te: trailers kept, hop-by-hop dropped, host as fallback authority', () => {
  const h = parseRequestHead([':method', 'POST', ':scheme', 'https', ':path', '/a?b', 'cookie', 'a=1', 'cookie', 'b=2', 'te', 'trailers', 'connection', 'x', 'host', 'h.example', 'x-v', '1', 'x-v', '2']);
  assert.equal(h.method, 'POST');
  assert.equal(h.scheme, 'https');
  assert.equal(h.path, '/a?b');
  assert.equal(h.authority, 'h.example');
  assert.deepEqual(h.headers, { cookie: 'a=1; b=2', te: 'trailers', 'x-v': '1, 2' });
  assert.equal(parseRequestHead([':authority', 'svc:80', 'host', 'other']).authority, 'svc:80');
});

test('toHeaderList: :status first, arrays spread, hop-by-hop and pseudo fields dropped; trailers without :status', () => {
  assert.deepEqual(toHeaderList(200, { 'set-cookie': ['a', 'b'], connection: 'close', 'transfer-encoding': 'chunked', ':status': '1', 'x-y': 'z' }), [':status', '200', 'set-cookie', 'a', 'set-cookie', 'b', 'x-y', 'z']);
  assert.deepEqual(toHeaderList(0, { 'grpc-status': '0' }), ['grpc-status', '0']);
});

test('request body: the stream window re-opens only as the body Readable is read', async () => {
  const { ex, stream } = exchange([':method', 'POST', ':path', '/', 'content-type', 'application/grpc'], false);
  assert.equal(ex.isGrpc, true);
  assert.equal(ex.bodyless, false);
  const big = Buffer.alloc(64 * 1024, 1);
  // Nobody reads yet: the first chunks fill the Readable up to its high-water mark, then the rest is held.
  for (let i = 0; i < 4; i++) stream.onData!(big, false);
  assert.ok(stream.consumed < 4 * big.length, 'not everything was handed back before it was read');
  const held = 4 * big.length - stream.consumed;
  assert.ok(held > 0);
  stream.onTrailers!(['x-t', 'v']);
  let read = 0;
  for await (const chunk of ex.body) read += (chunk as Buffer).length;
  assert.equal(read, 4 * big.length);
  assert.equal(stream.consumed, 4 * big.length, 'everything read was handed back to the window');
  assert.deepEqual(ex.requestTrailers(), { 'x-t': 'v' });
});

test('fail before the head: mapped status with weft-error; the rest of the request body is consumed and dropped', () => {
  const { ex, stream } = exchange([':method', 'PUT', ':path', '/'], false);
  ex.fail(new ProxyError('FORBIDDEN_PORT', 'port 9 is not declared'), 'inbound');
  const head = stream.sent[0]!;
  assert.equal(head.kind, 'headers');
  const list = head.value as string[];
  assert.deepEqual(list.slice(0, 2), [':status', '403']);
  assert.match(list[list.indexOf('weft-error') + 1]!, /^FORBIDDEN_PORT; port 9/);
  assert.equal(stream.sent.at(-1)!.end, true);
  assert.equal(ex.headersSent, true);
  stream.onData!(Buffer.alloc(1000), false);
  assert.equal(stream.consumed, 1000);
});

test('gRPC failure: status 200 with grpc-status in a headers-only response; failure after the head resets the stream', () => {
  const { ex, stream } = exchange([':method', 'POST', ':path', '/s/M', 'content-type', 'application/grpc'], true);
  ex.fail(new ProxyError('NO_HEALTHY_ENDPOINT', 'none'), 'inbound');
  const list = stream.sent[0]!.value as string[];
  assert.deepEqual(list.slice(0, 2), [':status', '200']);
  assert.equal(list[list.indexOf('grpc-status') + 1], '14');
  assert.equal(stream.sent[0]!.end, true);

  const second = exchange([':method', 'GET', ':path', '/'], true);
  second.ex.respond(200, { 'content-type': 'text/plain' }, false);
  second.ex.fail(new ProxyError('UPSTREAM_RESET', 'mid-response', { details: { h2Code: 8 } }), 'inbound');
  assert.equal(second.stream.resetCode, 8, "the upstream's RST code is passed on");
});

test('abort callbacks: a reset before the response completed reaches them; after completion it does not', () => {
  const a = exchange([':method', 'GET', ':path', '/'], true);
  let aborted = 0;
  a.ex.onAbort(() => aborted++);
  a.ex.respond(200, {}, false);
  a.stream.closed = true;
  a.stream.onClose!(8, undefined);
  assert.equal(aborted, 1);

  const b = exchange([':method', 'GET', ':path', '/'], true);
  let abortedB = 0;
  b.ex.onAbort(() => abortedB++);
  b.ex.respond(200, {}, false);
  b.ex.writeBody(Buffer.from('x'));
  b.ex.endWithTrailers({ 'x-done': '1' });
  b.stream.closed = true;
  b.stream.onClose!(null, undefined);
  assert.equal(abortedB, 0);
  assert.deepEqual(b.stream.sent.at(-1), { kind: 'trailers', value: ['x-done', '1'], end: true });
  assert.equal(b.ex.remoteAddress, '10.0.0.9');
});

test('onBodyDrain: called once when the stream becomes writable again', () => {
  const { ex, stream } = exchange([':method', 'GET', ':path', '/'], true);
  ex.respond(200, {}, false);
  stream.writable = false;
  assert.equal(ex.writeBody(Buffer.from('abc')), false);
  let drained = 0;
  ex.onBodyDrain(() => drained++);
  stream.onWritable!();
  stream.onWritable!();
  assert.equal(drained, 1);
});
