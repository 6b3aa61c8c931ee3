// Unit tests of the HTTP/2 session state machine over real loopback sockets: our client against our
// server (windows, CONTINUATION, GOAWAY, concurrency), and hand-built frames against each role for the
// error paths and limits (preface, CONTINUATION rules and floods, rapid reset, control-frame floods,
// header validation, flow-control errors, settings timeout, PUSH_PROMISE, GOAWAY with refused streams).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { connectH2, serveH2, H2SessionError, validateHeaderListForTest, StreamTableForTest, KIND_REQUEST, KIND_RESPONSE, KIND_TRAILERS } from './session.ts';
import { HpackDecoder } from './hpack.ts';
import type { H2ClientSession, H2HeaderList, H2Stream, H2StreamHandler } from './api.ts';
import {
  H2_CANCEL,
  H2_ENHANCE_YOUR_CALM,
  H2_FLOW_CONTROL_ERROR,
  H2_NO_ERROR,
  H2_PROTOCOL_ERROR,
  H2_REFUSED_STREAM,
  H2_SETTINGS_TIMEOUT,
} from './api.ts';
import { FrameType, Flag, PREFACE, frame, literal, requestBlock } from '../../../../test/support/h2-frames.ts';
import type { Frame } from '../../../../test/support/h2-frames.ts';
import { eventually, waitFor } from '../../../../test/support/wait.ts';
import { h2Loopback, u32, goawayCode, expectGoaway } from '../../../../test/support/h2-loopback.ts';

const { cleanups, listen, ownServer, ownClient, rawClient } = h2Loopback();

const REQUEST = [':method', 'POST', ':scheme', 'http', ':authority', 'test', ':path', '/'];
const get = (list: H2HeaderList, name: string): string | undefined => {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
  return undefined;
};
/** A handler that records streams and answers 200 with the request body once the request ended. */
function recordingHandler(streams: { stream: H2Stream; headers: H2HeaderList; body: Buffer[]; code?: number | null }[]): H2StreamHandler {
  return (stream, headers, endStream) => {
    const record = { stream, headers, body: [] as Buffer[], code: undefined as number | null | undefined };
    streams.push(record);
    stream.onClose = (code) => (record.code = code);
    const answer = (): void => {
      stream.sendHeaders([':status', '200'], false);
      stream.sendData(Buffer.concat(record.body), true);
    };
    stream.onData = (chunk, end) => {
      record.body.push(Buffer.from(chunk));
      stream.consume(chunk.length);
      if (end) answer();
    };
    stream.onTrailers = () => answer();
    if (endStream) answer();
  };
}

describe('validateHeaders (RFC 9113 §8.2–8.3)', () => {
  const ok = [':method', 'GET', ':scheme', 'https', ':path', '/'];
  test('accepts a minimal request, a CONNECT and a response; reports content-length', () => {
    assert.equal(validateHeaderListForTest(ok, KIND_REQUEST), -1);
    assert.equal(validateHeaderListForTest([...ok, 'content-length', '12'], KIND_REQUEST), 12);
    assert.equal(validateHeaderListForTest([':method', 'CONNECT', ':authority', 'a:443'], KIND_REQUEST), -1);
    assert.equal(validateHeaderListForTest([':status', '204', 'x', 'y'], KIND_RESPONSE), -1);
    assert.equal(validateHeaderListForTest(['te', 'trailers', 'x-a', 'b'], KIND_TRAILERS), -1);
  });
  test('rejects what the RFC calls malformed', () => {
    const bad: [H2HeaderList, number][] = [
      [[':method', 'GET', ':path', '/'], KIND_REQUEST], // no :scheme
      [[':method', 'GET', ':scheme', 'http'], KIND_REQUEST], // no :path
      [[':scheme', 'http', ':path', '/'], KIND_REQUEST], // no :method
      [[...ok, ':method', 'GET'], KIND_REQUEST], // duplicate pseudo
      [['x-a', 'b', ...ok], KIND_REQUEST], // pseudo after regular
      [[...ok, 'X-Upper', 'v'], KIND_REQUEST],
      [[...ok, 'connection', 'close'], KIND_REQUEST],
      [[...ok, 'keep-alive', '5'], KIND_REQUEST],
      [[...ok, 'proxy-connection', 'x'], KIND_REQUEST],
      [[...ok, 'transfer-encoding', 'chunked'], KIND_REQUEST],
      [[...ok, 'upgrade', 'websocket'], KIND_REQUEST],
      [[...ok, 'te', 'gzip'], KIND_REQUEST],
      [[...ok, 'x-a', 'a\r\nb'], KIND_REQUEST],
      [[...ok, 'content-length', 'abc'], KIND_REQUEST],
      [[...ok, 'content-length', '1', 'content-length', '2'], KIND_REQUEST],
      [[...ok, ':status', '200'], KIND_REQUEST],
      [[':method', 'CONNECT', ':authority', 'a', ':path', '/'], KIND_REQUEST],
      [['x', 'y'], KIND_RESPONSE], // no :status
      [[':status', '20'], KIND_RESPONSE],
      [[':status', '101'], KIND_RESPONSE], // no Upgrade in HTTP/2
      [[':status', '200', ':path', '/'], KIND_RESPONSE],
      [[':status', '200'], KIND_TRAILERS], // pseudo in trailers
    ];
    for (const [list, kind] of bad) assert.equal(validateHeaderListForTest(list, kind), -2, JSON.stringify(list));
  });
});

describe('own client ↔ own server', () => {
  test('a request with body and trailers, a response with body and trailers; both streams close normally', async () => {
    let serverClose: number | null | undefined;
    let serverTrailers: H2HeaderList | undefined;
    const received: Buffer[] = [];
    const { port, sessions } = await ownServer((stream, headers) => {
      assert.equal(get(headers, ':path'), '/echo');
      stream.onData = (chunk) => {
        received.push(Buffer.from(chunk));
        stream.consume(chunk.length);
      };
      stream.onTrailers = (t) => {
        serverTrailers = t;
        stream.sendHeaders([':status', '200', 'x-a', 'b'], false);
        stream.sendData(Buffer.concat(received), false);
        stream.sendTrailers(['x-sum', String(Buffer.concat(received).length)]);
      };
      stream.onClose = (code) => (serverClose = code);
    });
    const client = await ownClient(port);
    const stream = client.request([':method', 'POST', ':scheme', 'http', ':authority', 't', ':path', '/echo'], false);
    const chunks: Buffer[] = [];
    let head: H2HeaderList | undefined;
    let trailers: H2HeaderList | undefined;
    let clientClose: number | null | undefined;
    stream.onHeaders = (h) => (head = h);
    stream.onData = (c) => chunks.push(Buffer.from(c));
    stream.onTrailers = (t) => (trailers = t);
    stream.onClose = (code) => (clientClose = code);
    assert.equal(stream.sendData(Buffer.from('hello '), false), true);
    stream.sendData(Buffer.from('world'), false);
    stream.sendTrailers(['x-req', 'done']);
    await waitFor(() => clientClose !== undefined && serverClose !== undefined, 'both streams to close');
    assert.equal(clientClose, null);
    assert.equal(serverClose, null);
    assert.equal(get(head!, 'x-a'), 'b');
    assert.equal(Buffer.concat(chunks).toString(), 'hello world');
    assert.deepEqual(trailers, ['x-sum', '11']);
    assert.deepEqual(serverTrailers, ['x-req', 'done']);
    assert.equal(client.activeStreams, 0);
    await waitFor(() => sessions[0]!.activeStreams === 0, 'the server stream count to drop');
  });

  test('stream receive window: nothing beyond it arrives until consume(); then onWritable and the rest', async () => {
    const got: number[] = [];
    let serverStream: H2Stream | undefined;
    const { port } = await ownServer(
      (stream) => {
        serverStream = stream;
        stream.onData = (chunk) => got.push(chunk.length);
      },
      { initialWindowSize: 16384 },
    );
    const client = await ownClient(port);
    const stream = client.request(REQUEST, false);
    let writable = 0;
    stream.onWritable = () => writable++;
    assert.equal(stream.sendData(Buffer.alloc(100_000, 1), true), false, 'sendData must report a spent window');
    await waitFor(() => got.reduce((a, b) => a + b, 0) === 16384, 'one window of data');
    // The window stays spent without consume(); give the loop a few turns to prove nothing more comes.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.equal(got.reduce((a, b) => a + b, 0), 16384);
    // Consume as data arrives from now on.
    serverStream!.onData = (chunk) => {
      got.push(chunk.length);
      serverStream!.consume(chunk.length);
    };
    serverStream!.consume(16384);
    await waitFor(() => got.reduce((a, b) => a + b, 0) === 100_000, 'the whole body');
    assert.ok(writable >= 0);
    assert.equal(serverStream!.remoteEnded, true);
  });

  test('sendData returns false on a spent window and onWritable fires once the peer consumed', async () => {
    let serverStream: H2Stream | undefined;
    const { port } = await ownServer((stream) => {
      serverStream = stream;
      stream.onData = () => {};
    }, { initialWindowSize: 16384 });
    const client = await ownClient(port);
    const stream = client.request(REQUEST, false);
    let writable = 0;
    stream.onWritable = () => writable++;
    assert.equal(stream.sendData(Buffer.alloc(20_000), false), false);
    await waitFor(() => serverStream !== undefined);
    assert.equal(writable, 0);
    serverStream!.consume(16384);
    await waitFor(() => writable === 1, 'onWritable after the window re-opened');
    assert.equal(stream.sendData(Buffer.alloc(10), false), true);
  });

  test('receive windows: the connection window comes back on delivery (owners that do not read stall only their own streams); each stream holds at most its window until consume()', async () => {
    const held = new Map<number, number>();
    const streams: H2Stream[] = [];
    const total = (): number => [...held.values()].reduce((a, b) => a + b, 0);
    const { port } = await ownServer(
      (stream) => {
        streams.push(stream);
        held.set(stream.id, 0);
        stream.onData = (chunk) => held.set(stream.id, held.get(stream.id)! + chunk.length);
      },
      { initialWindowSize: 65535, connectionWindowSize: 100_000 },
    );
    const client = await ownClient(port);
    for (let i = 0; i < 4; i++) client.request(REQUEST, false).sendData(Buffer.alloc(100_000), true);
    // More than the connection window is delivered: it is credited as DATA reaches the streams.
    await waitFor(() => total() === 4 * 65535, 'every stream window of data');
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.equal(total(), 4 * 65535, 'nothing beyond the stream windows while nobody consumes');
    // A new stream is not stalled by the four that hold their windows.
    const late = client.request(REQUEST, false);
    late.sendData(Buffer.alloc(50_000), true);
    await waitFor(() => streams.length === 5 && held.get(streams[4]!.id) === 50_000, 'a new stream to get its whole body');
    // Consuming re-opens that stream's window: the rest of its body arrives.
    const first = streams[0]!;
    first.consume(held.get(first.id)!);
    await waitFor(() => held.get(first.id) === 100_000, 'the rest of the first body after consume()');
  });

  test('the client honours the server MAX_CONCURRENT_STREAMS: request() throws H2_STREAMS_EXHAUSTED', async () => {
    const { port } = await ownServer(() => {}, { maxConcurrentStreams: 2 });
    const client = await ownClient(port);
    assert.equal(client.peerMaxConcurrentStreams, 2);
    client.request(REQUEST, false);
    client.request(REQUEST, false);
    assert.throws(() => client.request(REQUEST, false), (e: unknown) => e instanceof H2SessionError && e.code === 'H2_STREAMS_EXHAUSTED');
  });

  test('request() on a closed session throws H2_SESSION_CLOSED', async () => {
    const { port } = await ownServer(() => {});
    const client = await ownClient(port);
    client.destroy();
    await waitFor(() => client.closed, 'the session to close');
    assert.throws(() => client.request(REQUEST, true), (e: unknown) => e instanceof H2SessionError && e.code === 'H2_SESSION_CLOSED');
  });

  test('a 40 KiB head goes out as HEADERS + CONTINUATION and arrives intact', async () => {
    let seen: H2HeaderList | undefined;
    const { port } = await ownServer((_stream, headers) => (seen = headers));
    const client = await ownClient(port);
    client.request([...REQUEST, 'x-big', 'b'.repeat(40_000), 'x-after', 'yes'], true);
    await waitFor(() => seen !== undefined, 'the request head');
    assert.equal(get(seen!, 'x-big'), 'b'.repeat(40_000));
    assert.equal(get(seen!, 'x-after'), 'yes');
  });

  test('graceful close: GOAWAY(NO_ERROR), the open stream finishes, new requests are refused, then both sessions close', async () => {
    const streams: H2Stream[] = [];
    const { port, sessions } = await ownServer((stream) => {
      streams.push(stream);
      stream.onData = (c) => stream.consume(c.length);
    });
    const client = await ownClient(port);
    let goaway: [number, number] | undefined;
    let clientClosed = null as Error | undefined | null;
    client.onGoaway = (code, last) => (goaway = [code, last]);
    client.onClose = (error) => (clientClosed = error);
    const stream = client.request(REQUEST, true);
    let body = '';
    let closeCode: number | null | undefined;
    stream.onData = (c) => (body += c.toString());
    stream.onClose = (code) => (closeCode = code);
    await waitFor(() => streams.length === 1);
    sessions[0]!.close();
    await waitFor(() => goaway !== undefined, 'GOAWAY at the client');
    assert.deepEqual(goaway, [H2_NO_ERROR, 1]);
    assert.throws(() => client.request(REQUEST, true), (e: unknown) => e instanceof H2SessionError && e.code === 'H2_SESSION_DRAINING');
    streams[0]!.sendHeaders([':status', '200'], false);
    streams[0]!.sendData(Buffer.from('late'), true);
    await waitFor(() => clientClosed !== null, 'the client session to close');
    assert.equal(closeCode, null);
    assert.equal(body, 'late');
    assert.equal(clientClosed, undefined);
    assert.equal(sessions[0]!.closed, true);
  });

  test('destroy(): every open stream on both sides closes with an error code', async () => {
    let serverCode: number | null | undefined;
    const { port } = await ownServer((stream) => (stream.onClose = (code) => (serverCode = code)));
    const client = await ownClient(port);
    const stream = client.request(REQUEST, false);
    let clientCode: number | null | undefined;
    let clientError: Error | undefined;
    stream.onClose = (code, error) => {
      clientCode = code;
      clientError = error;
    };
    await waitFor(() => serverCode === undefined && client.activeStreams === 1);
    await new Promise((r) => setTimeout(r, 20));
    client.destroy();
    assert.equal(clientCode, H2_CANCEL);
    assert.equal(clientError, undefined);
    await waitFor(() => serverCode !== undefined, 'the server stream to fail');
    assert.notEqual(serverCode, null);
  });

  test('many streams in one turn leave in one socket write', async () => {
    let served = 0;
    const { port } = await ownServer((stream) => {
      served++;
      stream.sendHeaders([':status', '200'], true);
    });
    const socket = net.connect(port, '127.0.0.1');
    const client = connectH2(socket);
    cleanups.push(() => client.destroy());
    await waitFor(() => client.ready);
    await new Promise((r) => setImmediate(r));
    let writes = 0;
    const write = socket.write.bind(socket) as (b: Buffer) => boolean;
    (socket as unknown as { write: (b: Buffer) => boolean }).write = (b: Buffer) => {
      writes++;
      return write(b);
    };
    for (let i = 0; i < 50; i++) client.request([...REQUEST, 'x-i', String(i)], true);
    await waitFor(() => served === 50, 'all 50 requests');
    assert.equal(writes, 1, 'fifty HEADERS frames should leave in one write');
  });
});

describe('raw frames → serveH2', () => {
  test('a bad preface closes the connection without a stream', async () => {
    let streams = 0;
    const { port } = await ownServer(() => streams++);
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    cleanups.push(() => socket.destroy());
    socket.resume();
    socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    assert.equal(streams, 0);
  });

  test('the preface may arrive in pieces, and the `initial` bytes count as read', async () => {
    let seen: H2HeaderList | undefined;
    const port = await listen((socket) => {
      socket.once('data', (first: Buffer) => {
        const session = serveH2(socket, (_s, h) => (seen = h), undefined, first);
        cleanups.push(() => session.destroy());
      });
    });
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    cleanups.push(() => socket.destroy());
    socket.write(PREFACE.subarray(0, 5));
    await new Promise((r) => setTimeout(r, 30));
    socket.write(Buffer.concat([PREFACE.subarray(5), frame(FrameType.SETTINGS, 0, 0), frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, requestBlock('a'))]));
    await waitFor(() => seen !== undefined, 'the request');
    assert.equal(get(seen!, ':authority'), 'a');
  });

  test('frames trickling in a few bytes per read are reassembled', async () => {
    const streams: { stream: H2Stream; headers: H2HeaderList; body: Buffer[]; code?: number | null }[] = [];
    const { port } = await ownServer(recordingHandler(streams));
    const raw = await rawClient(port);
    raw.socket.setNoDelay(true);
    const bytes = Buffer.concat([
      frame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock('a', 'POST', '/trickle')),
      frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from('x'.repeat(300))),
    ]);
    for (let i = 0; i < bytes.length; i += 7) {
      raw.write(bytes.subarray(i, i + 7));
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => streams[0]?.code !== undefined, 'the trickled request to complete');
    assert.equal(get(streams[0]!.headers, ':path'), '/trickle');
    assert.equal(Buffer.concat(streams[0]!.body).toString(), 'x'.repeat(300));
  });

  test('a frame between HEADERS and its CONTINUATION is a connection PROTOCOL_ERROR', async () => {
    const { port } = await ownServer(() => {});
    const raw = await rawClient(port);
    const block = requestBlock('a');
    raw.write(frame(FrameType.HEADERS, 0, 1, block.subarray(0, 5)));
    raw.write(frame(FrameType.PING, 0, 0, Buffer.alloc(8)));
    await expectGoaway(raw, H2_PROTOCOL_ERROR);
  });

  test('HEADERS split over CONTINUATION frames is reassembled', async () => {
    let seen: H2HeaderList | undefined;
    const { port } = await ownServer((_s, h) => (seen = h));
    const raw = await rawClient(port);
    const block = requestBlock('a', 'GET', '/split', [literal('x-long', 'z'.repeat(300))]);
    raw.write(frame(FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, 10)));
    raw.write(frame(FrameType.CONTINUATION, 0, 1, block.subarray(10, 100)));
    raw.write(frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(100)));
    await waitFor(() => seen !== undefined, 'the request');
    assert.equal(get(seen!, ':path'), '/split');
    assert.equal(get(seen!, 'x-long'), 'z'.repeat(300));
  });

  test('CONTINUATION flood (a header block far beyond the header list limit) → GOAWAY ENHANCE_YOUR_CALM', async () => {
    const { port } = await ownServer(() => {}, { maxHeaderListSize: 4096 });
    const raw = await rawClient(port);
    raw.write(frame(FrameType.HEADERS, 0, 1, requestBlock('a')));
    const junk = Buffer.alloc(16000, 0x41);
    for (let i = 0; i < 10 && !raw.closed; i++) raw.write(frame(FrameType.CONTINUATION, 0, 1, junk));
    await expectGoaway(raw, H2_ENHANCE_YOUR_CALM);
  });

  test('rapid reset: streams opened and reset before an answer → GOAWAY ENHANCE_YOUR_CALM', async () => {
    let opened = 0;
    const { port } = await ownServer(() => opened++, { maxEarlyResetsPer10s: 50 });
    const raw = await rawClient(port);
    const frames: Buffer[] = [];
    for (let id = 1; id <= 201; id += 2) {
      frames.push(frame(FrameType.HEADERS, Flag.END_HEADERS, id, requestBlock('a')));
      frames.push(frame(FrameType.RST_STREAM, 0, id, u32(H2_CANCEL)));
    }
    raw.write(Buffer.concat(frames));
    await expectGoaway(raw, H2_ENHANCE_YOUR_CALM);
    assert.ok(opened <= 51, `at most the limit of streams reached the handler (${opened})`);
  });

  test('PING flood → GOAWAY ENHANCE_YOUR_CALM; PINGs below the limit are acked', async () => {
    const { port } = await ownServer(() => {}, { maxControlFramesPer10s: 100 });
    const raw = await rawClient(port);
    raw.write(frame(FrameType.PING, 0, 0, Buffer.from('12345678')));
    const ack = await eventually(() => raw.frames.find((f) => f.type === FrameType.PING));
    assert.equal(ack.flags & Flag.ACK, Flag.ACK);
    assert.equal(ack.payload.toString(), '12345678');
    const pings: Buffer[] = [];
    for (let i = 0; i < 200; i++) pings.push(frame(FrameType.PING, 0, 0, Buffer.alloc(8)));
    raw.write(Buffer.concat(pings));
    await expectGoaway(raw, H2_ENHANCE_YOUR_CALM);
  });

  test('empty DATA frames without END_STREAM count as control frames → GOAWAY ENHANCE_YOUR_CALM', async () => {
    const { port } = await ownServer((stream) => (stream.onData = () => {}), { maxControlFramesPer10s: 100 });
    const raw = await rawClient(port);
    const frames: Buffer[] = [frame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock('a', 'POST'))];
    for (let i = 0; i < 200; i++) frames.push(frame(FrameType.DATA, 0, 1));
    raw.write(Buffer.concat(frames));
    await expectGoaway(raw, H2_ENHANCE_YOUR_CALM);
  });

  test('padded HEADERS and DATA, PRIORITY frames and unknown frame types are accepted', async () => {
    const streams: { stream: H2Stream; headers: H2HeaderList; body: Buffer[]; code?: number | null }[] = [];
    const { port } = await ownServer(recordingHandler(streams));
    const raw = await rawClient(port);
    const block = requestBlock('a', 'POST', '/padded');
    // HEADERS: PADDED (0x8) | PRIORITY (0x20): pad length 3, dependency 0 + weight, block, 3 bytes padding.
    const headersPayload = Buffer.concat([Buffer.from([3]), u32(0), Buffer.from([16]), block, Buffer.alloc(3)]);
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | 0x8 | 0x20, 1, headersPayload));
    raw.write(frame(FrameType.PRIORITY, 0, 1, Buffer.concat([u32(0), Buffer.from([200])])));
    raw.write(frame(0xfa, 0, 0, Buffer.from('unknown frame type')));
    raw.write(frame(FrameType.DATA, Flag.END_STREAM | 0x8, 1, Buffer.concat([Buffer.from([5]), Buffer.from('body'), Buffer.alloc(5)])));
    await waitFor(() => streams[0]?.code !== undefined, 'the padded request to complete');
    assert.equal(get(streams[0]!.headers, ':path'), '/padded');
    assert.equal(Buffer.concat(streams[0]!.body).toString(), 'body');
    assert.equal(streams[0]!.code, null);
    assert.equal(raw.goaway(), undefined);
  });

  test('a request head beyond maxHeaderListSize is answered 431 with END_STREAM and never reaches the handler', async () => {
    let opened = 0;
    const { port } = await ownServer(() => opened++, { maxHeaderListSize: 1024 });
    const raw = await rawClient(port);
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, requestBlock('a', 'GET', '/', [literal('x-big', 'b'.repeat(2000))])));
    const head = await eventually(() => raw.frames.find((f) => f.type === FrameType.HEADERS && f.stream === 1));
    assert.equal(head.flags & Flag.END_STREAM, Flag.END_STREAM);
    const list: H2HeaderList = [];
    new HpackDecoder().decode(head.payload, list, 65536);
    assert.equal(get(list, ':status'), '431');
    assert.equal(opened, 0);
    // The session carries on.
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, requestBlock('a')));
    await waitFor(() => opened === 1, 'the next request');
  });

  test('malformed request heads get RST_STREAM(PROTOCOL_ERROR) and the session carries on', async () => {
    let opened = 0;
    const { port } = await ownServer(() => opened++);
    const raw = await rawClient(port);
    const base = requestBlock('a');
    const bad = [
      Buffer.concat([base, literal('X-Upper', 'v')]),
      Buffer.concat([base, literal('connection', 'close')]),
      Buffer.concat([base, literal('te', 'gzip')]),
      Buffer.concat([literal(':method', 'GET'), literal(':scheme', 'http')]), // no :path
      Buffer.concat([literal('x-a', 'b'), base]), // pseudo after regular
      Buffer.concat([base, literal('x-bad', 'a\nb')]),
    ];
    bad.forEach((block, i) => raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1 + 2 * i, block)));
    await waitFor(() => raw.frames.filter((f) => f.type === FrameType.RST_STREAM).length === bad.length, 'one RST_STREAM per bad head');
    for (const f of raw.frames.filter((f) => f.type === FrameType.RST_STREAM)) assert.equal(f.payload.readUInt32BE(0), H2_PROTOCOL_ERROR);
    assert.equal(opened, 0);
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1 + 2 * bad.length, base));
    await waitFor(() => opened === 1, 'a good request after the bad ones');
    assert.equal(raw.goaway(), undefined);
  });

  test('content-length that does not match the DATA → RST_STREAM(PROTOCOL_ERROR), stream onClose with that code', async () => {
    const streams: { stream: H2Stream; headers: H2HeaderList; body: Buffer[]; code?: number | null }[] = [];
    const { port } = await ownServer(recordingHandler(streams));
    const raw = await rawClient(port);
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock('a', 'POST', '/', [literal('content-length', '10')])));
    raw.write(frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from('short')));
    const rst = await eventually(() => raw.frames.find((f) => f.type === FrameType.RST_STREAM && f.stream === 1));
    assert.equal(rst.payload.readUInt32BE(0), H2_PROTOCOL_ERROR);
    await waitFor(() => streams[0]?.code !== undefined);
    assert.equal(streams[0]!.code, H2_PROTOCOL_ERROR);
  });

  test('DATA beyond the connection window → GOAWAY FLOW_CONTROL_ERROR', async () => {
    const { port } = await ownServer(() => {}, { connectionWindowSize: 65535 });
    const raw = await rawClient(port);
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock('a', 'POST')));
    // The handler never consumes, but the connection window is re-opened as data is delivered:
    // so exceed it within one burst the session cannot have answered yet.
    const chunk = Buffer.alloc(16384);
    const burst: Buffer[] = [];
    for (let i = 0; i < 5; i++) burst.push(frame(FrameType.DATA, 0, 1, chunk));
    raw.write(Buffer.concat(burst));
    const g = await eventually(() => raw.goaway() ?? raw.frames.find((f) => f.type === FrameType.RST_STREAM), 'an error');
    assert.ok(g.type === FrameType.GOAWAY ? goawayCode(g) === H2_FLOW_CONTROL_ERROR : g.payload.readUInt32BE(0) === H2_FLOW_CONTROL_ERROR);
  });

  test('DATA beyond a stream window → RST_STREAM(FLOW_CONTROL_ERROR)', async () => {
    const { port } = await ownServer((stream) => (stream.onData = () => {}), { initialWindowSize: 16384 });
    const raw = await rawClient(port);
    await waitFor(() => raw.frames.some((f) => f.type === FrameType.SETTINGS && f.flags === Flag.ACK), 'our SETTINGS acked');
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock('a', 'POST')));
    raw.write(Buffer.concat([frame(FrameType.DATA, 0, 1, Buffer.alloc(16384)), frame(FrameType.DATA, 0, 1, Buffer.alloc(100))]));
    const rst = await eventually(() => raw.frames.find((f) => f.type === FrameType.RST_STREAM && f.stream === 1));
    assert.equal(rst.payload.readUInt32BE(0), H2_FLOW_CONTROL_ERROR);
  });

  test('WINDOW_UPDATE overflowing 2^31-1 → FLOW_CONTROL_ERROR; increment 0 → PROTOCOL_ERROR', async () => {
    const { port } = await ownServer(() => {});
    const raw = await rawClient(port);
    raw.write(frame(FrameType.WINDOW_UPDATE, 0, 0, u32(0x7fffffff)));
    await expectGoaway(raw, H2_FLOW_CONTROL_ERROR);
    const raw2 = await rawClient(port);
    raw2.write(frame(FrameType.WINDOW_UPDATE, 0, 0, u32(0)));
    await expectGoaway(raw2, H2_PROTOCOL_ERROR);
  });

  test('streams beyond maxConcurrentStreams are refused with RST_STREAM(REFUSED_STREAM)', async () => {
    let opened = 0;
    const { port } = await ownServer(() => opened++, { maxConcurrentStreams: 1 });
    const raw = await rawClient(port);
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock('a', 'POST')));
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 3, requestBlock('a', 'POST')));
    const rst = await eventually(() => raw.frames.find((f) => f.type === FrameType.RST_STREAM && f.stream === 3));
    assert.equal(rst.payload.readUInt32BE(0), H2_REFUSED_STREAM);
    assert.equal(opened, 1);
  });

  test('HEADERS on a closed stream is ignored (trailers after our reset, late frames on a finished stream); the session carries on', async () => {
    const streams: H2Stream[] = [];
    const { port } = await ownServer((stream) => {
      streams.push(stream);
      stream.onData = () => {};
      if (stream.id === 1) stream.sendHeaders([':status', '204'], true);
    });
    const raw = await rawClient(port);
    // Stream 3: the server resets it mid-request; the client's trailers were already in flight.
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 3, requestBlock('a', 'POST')));
    await waitFor(() => streams.length === 1);
    streams[0]!.reset(H2_CANCEL);
    await eventually(() => raw.frames.find((f) => f.type === FrameType.RST_STREAM && f.stream === 3));
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, literal('x-trailer', 'late')));
    raw.write(frame(FrameType.PING, 0, 0, Buffer.from('stillok!')));
    await eventually(() => raw.frames.find((f) => f.type === FrameType.PING && f.payload.toString() === 'stillok!'), 'the session to answer after ignored trailers');
    assert.equal(raw.goaway(), undefined);
    // Stream 5 ends normally (both sides); HEADERS on it afterwards is ignored too (counted as a control
    // frame: a flood of them trips that guard), and the block still feeds HPACK.
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 5, requestBlock('a')));
    await waitFor(() => streams.length === 2);
    streams[1]!.sendHeaders([':status', '204'], true);
    await eventually(() => raw.frames.find((f) => f.type === FrameType.HEADERS && f.stream === 5));
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 5, literal('x-trailer', 'late')));
    raw.write(frame(FrameType.PING, 0, 0, Buffer.from('stillok2')));
    await eventually(() => raw.frames.find((f) => f.type === FrameType.PING && f.payload.toString() === 'stillok2'), 'the session to answer after ignored HEADERS');
    assert.equal(raw.goaway(), undefined);
  });

  test('a stream callback that throws destroys that session with INTERNAL_ERROR, not the process', async () => {
    let closed = null as Error | undefined | null;
    const port = await listen((socket) => {
      const session = serveH2(socket, (stream) => {
        stream.onData = () => {
          throw new Error('owner bug');
        };
      });
      session.onClose = (e) => (closed = e);
    });
    const raw = await rawClient(port);
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock('a', 'POST')));
    raw.write(frame(FrameType.DATA, 0, 1, Buffer.from('boom')));
    await waitFor(() => closed !== null, 'the session to close');
    assert.ok(closed instanceof H2SessionError);
    assert.match((closed as H2SessionError).message, /owner bug/);
    await waitFor(() => raw.closed);
  });

  test('a peer that never sends SETTINGS fails the session with GOAWAY(SETTINGS_TIMEOUT)', async () => {
    let closedWith: Error | undefined;
    const port = await listen((socket) => {
      const s = serveH2(socket, () => {}, { settingsTimeoutMs: 100 });
      s.onClose = (e) => (closedWith = e);
    });
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    cleanups.push(() => socket.destroy());
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => received.push(d));
    socket.write(PREFACE);
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    const all = Buffer.concat(received);
    let code: number | undefined;
    for (let p = 0; p + 9 <= all.length; p += 9 + all.readUIntBE(p, 3)) if (all[p + 3] === FrameType.GOAWAY) code = all.readUInt32BE(p + 13);
    assert.equal(code, H2_SETTINGS_TIMEOUT);
    await waitFor(() => closedWith !== undefined);
    assert.ok(closedWith instanceof H2SessionError && closedWith.code === 'H2_SETTINGS_TIMEOUT');
  });
});

describe('raw frames → serveH2: settings ack and draining', () => {
  test('a peer that sends SETTINGS but never acks ours fails the session with GOAWAY(SETTINGS_TIMEOUT)', async () => {
    const port = await listen((socket) => serveH2(socket, () => {}, { settingsTimeoutMs: 100 }));
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    cleanups.push(() => socket.destroy());
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => received.push(d));
    socket.write(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0)]));
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    const all = Buffer.concat(received);
    let code: number | undefined;
    for (let p = 0; p + 9 <= all.length; p += 9 + all.readUIntBE(p, 3)) if (all[p + 3] === FrameType.GOAWAY) code = all.readUInt32BE(p + 13);
    assert.equal(code, H2_SETTINGS_TIMEOUT);
  });

  test('after close(): GOAWAY names the last stream, streams opened later are refused, the open one finishes', async () => {
    const streams: H2Stream[] = [];
    const { port, sessions } = await ownServer((stream) => {
      streams.push(stream);
      stream.onData = () => {};
    });
    const raw = await rawClient(port);
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, requestBlock('a')));
    await waitFor(() => streams.length === 1);
    sessions[0]!.close();
    const g = await eventually(() => raw.goaway());
    assert.equal(g.payload.readUInt32BE(0), 1, 'last stream id 1');
    assert.equal(goawayCode(g), H2_NO_ERROR);
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, requestBlock('a')));
    const rst = await eventually(() => raw.frames.find((f) => f.type === FrameType.RST_STREAM && f.stream === 3));
    assert.equal(rst.payload.readUInt32BE(0), H2_REFUSED_STREAM);
    assert.equal(streams.length, 1);
    assert.equal(raw.closed, false, 'stream 1 is still open');
    streams[0]!.sendHeaders([':status', '200'], true);
    await eventually(() => raw.frames.find((f) => f.type === FrameType.HEADERS && f.stream === 1));
    await waitFor(() => raw.closed, 'the server to end the connection once stream 1 finished');
  });
});

describe('random frames → serveH2 (seeded fuzz)', () => {
  test('300 connections of random frames never throw out of the session; a normal request works afterwards', async () => {
    let seed = 0x2545f491;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const randomBytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => rand(256)));
    const { port, sessions } = await ownServer((stream, headers, endStream) => {
      stream.onData = (chunk) => stream.consume(chunk.length);
      if (get(headers, ':path') === '/ok' || rand(2) === 0) stream.sendHeaders([':status', '200'], endStream);
    });
    const closedAll: Promise<void>[] = [];
    for (let c = 0; c < 300; c++) {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      socket.resume();
      closedAll.push(new Promise((resolve) => socket.on('close', () => resolve())));
      const frames: Buffer[] = [PREFACE, frame(FrameType.SETTINGS, 0, 0)];
      let id = 1;
      for (let i = 0; i < 20; i++) {
        const type = rand(11);
        const flags = [0, 1, 4, 5, 8, 0x20, 0x2d][rand(7)]!;
        const stream = [0, id, id + 2, rand(50)][rand(4)]!;
        let payload: Buffer;
        if (type === FrameType.HEADERS) {
          payload = rand(3) === 0 ? randomBytes(rand(40)) : requestBlock('a', ['GET', 'POST'][rand(2)], '/', rand(2) ? [literal('content-length', String(rand(5)))] : []);
          id += 2;
        } else payload = randomBytes([0, 4, 5, 8, 6, rand(100)][rand(6)]!);
        frames.push(frame(type, flags, stream, payload));
      }
      socket.write(Buffer.concat(frames));
      socket.end();
    }
    await Promise.all(closedAll);
    const client = await ownClient(port);
    const stream = client.request([':method', 'GET', ':scheme', 'http', ':authority', 't', ':path', '/ok'], true);
    let status: string | undefined;
    stream.onHeaders = (h) => (status = get(h, ':status'));
    await waitFor(() => status !== undefined, 'an answer after the fuzz');
    assert.equal(status, '200');
    // Every fuzzed session is gone (301 served in all: the fuzzed ones and ours).
    assert.equal(sessions.length, 301);
    await waitFor(() => sessions.slice(0, 300).every((s) => s.closed), 'the fuzzed sessions to close');
  });
});

/** A raw server for client-side tests: accepts our client, records its frames, lets the test write. */
class RawServer {
  frames: Frame[] = [];
  socket: net.Socket | undefined;
  #buf = Buffer.alloc(0);
  #prefaceSeen = false;
  onSocket(socket: net.Socket): void {
    this.socket = socket;
    socket.write(frame(FrameType.SETTINGS, 0, 0));
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      if (!this.#prefaceSeen) {
        if (this.#buf.length < PREFACE.length) return;
        this.#buf = this.#buf.subarray(PREFACE.length);
        this.#prefaceSeen = true;
      }
      while (this.#buf.length >= 9) {
        const len = this.#buf.readUIntBE(0, 3);
        if (this.#buf.length < 9 + len) break;
        this.frames.push({ type: this.#buf[3]!, flags: this.#buf[4]!, stream: this.#buf.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(this.#buf.subarray(9, 9 + len)) });
        this.#buf = this.#buf.subarray(9 + len);
      }
    });
  }
}

describe('raw frames → connectH2', () => {
  async function setup(): Promise<{ raw: RawServer; client: H2ClientSession }> {
    const raw = new RawServer();
    const port = await listen((s) => raw.onSocket(s));
    const client = await ownClient(port);
    await waitFor(() => raw.socket !== undefined);
    return { raw, client };
  }

  test('GOAWAY(lastStreamId 1) with streams 1 and 3 open: 3 closes REFUSED_STREAM (retryable), 1 stays', async () => {
    const { raw, client } = await setup();
    const s1 = client.request(REQUEST, true);
    const s3 = client.request(REQUEST, true);
    let code3: number | null | undefined;
    let error3: Error | undefined;
    s3.onClose = (code, error) => {
      code3 = code;
      error3 = error;
    };
    let goaway: number[] | undefined;
    client.onGoaway = (code, last) => (goaway = [code, last]);
    await waitFor(() => raw.frames.filter((f) => f.type === FrameType.HEADERS).length === 2);
    raw.socket!.write(frame(FrameType.GOAWAY, 0, 0, Buffer.concat([u32(1), u32(H2_NO_ERROR)])));
    await waitFor(() => code3 !== undefined, 'stream 3 to fail');
    assert.equal(code3, H2_REFUSED_STREAM);
    assert.ok(error3 instanceof H2SessionError && error3.code === 'H2_GOAWAY');
    assert.deepEqual(goaway, [H2_NO_ERROR, 1]);
    assert.equal(s1.closed, false);
    assert.equal(client.draining, true);
    assert.throws(() => client.request(REQUEST, true), (e: unknown) => e instanceof H2SessionError && e.code === 'H2_SESSION_DRAINING');
  });

  test('PUSH_PROMISE is a connection PROTOCOL_ERROR (push is disabled)', async () => {
    const { raw, client } = await setup();
    const s1 = client.request(REQUEST, true);
    let code: number | null | undefined;
    s1.onClose = (c) => (code = c);
    raw.socket!.write(frame(5 /* PUSH_PROMISE */, Flag.END_HEADERS, 1, Buffer.concat([u32(2), requestBlock('a')])));
    await waitFor(() => code !== undefined);
    assert.equal(code, H2_PROTOCOL_ERROR);
    const g = await eventually(() => raw.frames.find((f) => f.type === FrameType.GOAWAY));
    assert.equal(goawayCode(g), H2_PROTOCOL_ERROR);
  });

  test('a smaller INITIAL_WINDOW_SIZE from the peer shrinks open streams, even below zero', async () => {
    const { raw, client } = await setup();
    const stream = client.request(REQUEST, false);
    stream.sendData(Buffer.alloc(1000), false);
    await waitFor(() => raw.frames.some((f) => f.type === FrameType.DATA), 'the first DATA');
    // Window 65535 - 1000 sent; shrink the initial window to 500 → stream window 500 - 1000 = -500.
    const settings = Buffer.alloc(6);
    settings.writeUInt16BE(4, 0);
    settings.writeUInt32BE(500, 2);
    raw.socket!.write(frame(FrameType.SETTINGS, 0, 0, settings));
    await waitFor(() => raw.frames.filter((f) => f.type === FrameType.SETTINGS && f.flags === Flag.ACK).length === 2, 'the ack of the second SETTINGS');
    assert.equal(stream.sendData(Buffer.alloc(100), false), false, 'window negative: nothing may go');
    raw.socket!.write(frame(FrameType.WINDOW_UPDATE, 0, 1, u32(550)));
    await waitFor(() => raw.frames.filter((f) => f.type === FrameType.DATA).reduce((a, f) => a + f.payload.length, 0) === 1050, '50 more bytes');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(raw.frames.filter((f) => f.type === FrameType.DATA).reduce((a, f) => a + f.payload.length, 0), 1050);
  });

  test('a response with 100-continue then 200 reaches onHeaders twice; DATA before a head is a stream error', async () => {
    const { raw, client } = await setup();
    const stream = client.request(REQUEST, true);
    const heads: H2HeaderList[] = [];
    let closeCode: number | null | undefined;
    stream.onHeaders = (h) => heads.push(h);
    stream.onClose = (c) => (closeCode = c);
    raw.socket!.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, literal(':status', '100')));
    raw.socket!.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, literal(':status', '204')));
    await waitFor(() => closeCode !== undefined);
    assert.equal(closeCode, null);
    assert.deepEqual(heads.map((h) => get(h, ':status')), ['100', '204']);
    const s3 = client.request(REQUEST, true);
    let code3: number | null | undefined;
    s3.onClose = (c) => (code3 = c);
    raw.socket!.write(frame(FrameType.DATA, Flag.END_STREAM, 3, Buffer.from('x')));
    await waitFor(() => code3 !== undefined);
    assert.equal(code3, H2_PROTOCOL_ERROR);
  });
});

test('ping(): the peer ACKs and lastRead moves (what the pool liveness probe relies on)', async () => {
  const { port } = await ownServer(() => {});
  const client = await ownClient(port);
  await waitFor(() => client.ready, 'the server SETTINGS');
  const before = client.lastRead;
  await new Promise((r) => setTimeout(r, 5));
  client.ping();
  await waitFor(() => client.lastRead > before, 'the PING ACK to be read');
  client.close();
});

describe('per-request fast paths (shared callbacks, heads encoded in place, direct DATA, validation memory)', () => {
  test('callbacks run with the stream as `this`: one function per callback serves every stream through `context`', async () => {
    interface Req {
      body: string;
      trailers?: H2HeaderList;
    }
    // Server side: module-style shared functions, state in context.
    function serverData(this: H2Stream, chunk: Buffer): void {
      (this.context as Req).body += chunk.toString();
      this.consume(chunk.length);
    }
    function serverTrailers(this: H2Stream, trailers: H2HeaderList): void {
      const req = this.context as Req;
      req.trailers = trailers;
      this.sendHeaders([':status', '200', 'x-len', String(req.body.length)], false);
      this.sendData(Buffer.from(req.body.toUpperCase()), false);
      this.sendTrailers(['x-done', req.body]);
    }
    const served: Req[] = [];
    const { port } = await ownServer((stream) => {
      const req: Req = { body: '' };
      served.push(req);
      stream.context = req;
      stream.onData = serverData;
      stream.onTrailers = serverTrailers;
    });
    // Client side: shared functions too.
    interface Res {
      head?: H2HeaderList;
      body: string;
      trailers?: H2HeaderList;
      code?: number | null;
      self: boolean;
    }
    function clientHeaders(this: H2Stream, head: H2HeaderList): void {
      (this.context as Res).head = head;
    }
    function clientData(this: H2Stream, chunk: Buffer): void {
      (this.context as Res).body += chunk.toString();
    }
    function clientTrailers(this: H2Stream, trailers: H2HeaderList): void {
      (this.context as Res).trailers = trailers;
    }
    function clientClose(this: H2Stream, code: number | null): void {
      const res = this.context as Res;
      res.code = code;
      res.self = this.closed;
    }
    const client = await ownClient(port);
    const results: Res[] = [];
    for (let i = 0; i < 3; i++) {
      const stream = client.request(REQUEST, false);
      const res: Res = { body: '', self: false };
      results.push(res);
      stream.context = res;
      stream.onHeaders = clientHeaders;
      stream.onData = clientData;
      stream.onTrailers = clientTrailers;
      stream.onClose = clientClose;
      stream.sendData(Buffer.from(`body-${i}`), false);
      stream.sendTrailers(['x-i', String(i)]);
    }
    await waitFor(() => results.every((r) => r.code !== undefined), 'all three exchanges');
    for (let i = 0; i < 3; i++) {
      assert.equal(get(served[i]!.trailers!, 'x-i'), String(i));
      const r = results[i]!;
      assert.equal(r.code, null);
      assert.equal(r.self, true, 'onClose ran on its own (closed) stream');
      assert.equal(get(r.head!, 'x-len'), String(`body-${i}`.length));
      assert.equal(r.body, `BODY-${i}`);
      assert.deepEqual(r.trailers, ['x-done', `body-${i}`]);
    }
  });

  test('a last body chunk that fits the windows leaves as one DATA frame with END_STREAM; heads encoded in place decode with one decoder across responses', async () => {
    const { port } = await ownServer((stream, headers) => {
      stream.sendHeaders([':status', '200', 'content-type', 'text/plain', 'x-path', get(headers, ':path')!], false);
      stream.sendData(Buffer.alloc(1000, 0x61), true);
    });
    const raw = await rawClient(port);
    const decoder = new HpackDecoder();
    for (const [id, path] of [[1, '/a'], [3, '/b'], [5, '/a']] as const) {
      raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, requestBlock('a', 'GET', path)));
      await eventually(() => raw.frames.find((f) => f.type === FrameType.DATA && f.stream === id && (f.flags & Flag.END_STREAM) !== 0), `the end of stream ${id}`);
      const frames = raw.frames.filter((f) => f.stream === id);
      assert.deepEqual(
        frames.map((f) => [f.type, f.flags, f.payload.length]),
        [
          [FrameType.HEADERS, Flag.END_HEADERS, frames[0]!.payload.length],
          [FrameType.DATA, Flag.END_STREAM, 1000],
        ],
        `stream ${id}: HEADERS, then the body in one DATA frame that ends the stream`,
      );
      const list: H2HeaderList = [];
      assert.equal(decoder.decode(frames[0]!.payload, list, 65536), true);
      assert.deepEqual(list, [':status', '200', 'content-type', 'text/plain', 'x-path', path]);
    }
    // The repeated head went out indexed: one byte per field.
    assert.equal(raw.frames.filter((f) => f.stream === 5)[0]!.payload.length, 3);
  });

  test('heads near and above the in-place limit (4 KiB) and above the peer frame size arrive intact, in order with small ones', async () => {
    const { port } = await ownServer((stream, headers) => {
      const size = Number(get(headers, 'x-size'));
      stream.sendHeaders([':status', '200', 'x-big', 'b'.repeat(size), 'x-after', 'yes'], true);
    });
    const client = await ownClient(port);
    const sizes = [10, 4000, 4100, 20_000, 10, 40_000, 3];
    const heads: (H2HeaderList | undefined)[] = [];
    sizes.forEach((size, i) => {
      const stream = client.request([...REQUEST, 'x-size', String(size)], true);
      stream.onHeaders = (h) => (heads[i] = h);
    });
    await waitFor(() => sizes.every((_, i) => heads[i] !== undefined), 'every response head');
    sizes.forEach((size, i) => {
      assert.equal(get(heads[i]!, 'x-big'), 'b'.repeat(size), `response ${i}`);
      assert.equal(get(heads[i]!, 'x-after'), 'yes');
    });
  });

  test('validateHeaders with memory: remembered strings skip only the character scan, never a verdict', () => {
    const seen = new Array<string>(64).fill('');
    const ok = [':method', 'GET', ':scheme', 'https', ':path', '/', 'x-a', 'value', 'accept', '*/*'];
    assert.equal(validateHeaderListForTest(ok, KIND_REQUEST, seen), -1);
    assert.equal(validateHeaderListForTest(ok, KIND_REQUEST, seen), -1);
    // Same positions, now invalid: each is still rejected.
    assert.equal(validateHeaderListForTest([...ok.slice(0, 7), 'va\r\nlue', ...ok.slice(8)], KIND_REQUEST, seen), -2);
    assert.equal(validateHeaderListForTest([...ok.slice(0, 6), 'X-A', ...ok.slice(7)], KIND_REQUEST, seen), -2);
    assert.equal(validateHeaderListForTest([...ok.slice(0, 7), ' value', ...ok.slice(8)], KIND_REQUEST, seen), -2);
    // A value that is fine for a regular field at a position is still checked in its new role.
    assert.equal(validateHeaderListForTest([':method', 'GET', ':scheme', 'https', ':path', 'value', 'x-a', 'value'], KIND_REQUEST, seen), -2);
    assert.equal(validateHeaderListForTest([...ok, 'connection', 'close'], KIND_REQUEST, seen), -2);
    assert.equal(validateHeaderListForTest(ok, KIND_REQUEST, seen), -1);
    // Random lists: the verdict with memory always equals the verdict without.
    let seed = 5;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const names = [':method', ':scheme', ':path', ':authority', 'x-a', 'X-B', 'te', 'content-length', 'host', '', 'x-c'];
    const values = ['GET', 'https', '/', 'a.b', 'trailers', '12', 'x\ny', ' lead', 'trail ', '', 'v', 'gzip'];
    for (let i = 0; i < 5000; i++) {
      const list: string[] = [];
      const fields = 1 + random(7);
      for (let f = 0; f < fields; f++) list.push(names[random(names.length)]!, values[random(values.length)]!);
      for (const kind of [KIND_REQUEST, KIND_RESPONSE, KIND_TRAILERS]) {
        assert.equal(validateHeaderListForTest(list, kind, seen), validateHeaderListForTest(list, kind), JSON.stringify(list));
      }
    }
  });
});

describe('the stream table (a slot per stream id, a Map for taken slots)', () => {
  test('behaves like a Map under random opens and closes: sequential ids, long-lived streams passed by later ids, growth', () => {
    interface Entry {
      id: number;
      until: number;
    }
    const table = new StreamTableForTest();
    const model = new Map<number, Entry>();
    let seed = 3;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let next = 1;
    const open = (step: number): void => {
      // One stream in ten lives long: later ids wrap around the table onto its slot.
      const e = { id: next, until: random(10) === 0 ? step + 200 + random(3000) : -1 };
      next += 2;
      table.add(e as never);
      model.set(e.id, e);
    };
    const close = (id: number): void => {
      table.delete(id);
      model.delete(id);
    };
    const check = (): void => {
      assert.equal(table.size, model.size);
      for (const [id, e] of model) assert.equal(table.get(id), e, `stream ${id}`);
      assert.deepEqual(new Set(table.values()), new Set(model.values()));
    };
    let target = 24;
    let wrapped = 0;
    for (let step = 0; step < 30_000; step++) {
      // Mostly a few dozen streams open; now and then a burst of a few hundred, so the table grows.
      if (step % 5000 === 2500) target = 300;
      if (step % 5000 === 3000) target = 24;
      if (model.size === 0 || (model.size < target && random(100) < 60)) {
        for (const e of model.values()) if (((e.id - next) >> 1) % 64 === 0) wrapped++;
        open(step);
      } else {
        const expired = [...model.values()].find((e) => e.until >= 0 && e.until <= step);
        if (expired !== undefined) close(expired.id);
        else {
          // One of the oldest short-lived streams.
          const short = [...model.values()].filter((e) => e.until < 0);
          if (short.length > 0) close(short[random(Math.min(short.length, 3))]!.id);
        }
      }
      assert.equal(table.get(next), undefined, 'an id not opened yet');
      if (step % 50 === 0) check();
    }
    check();
    assert.ok(wrapped > 100, `later ids landed on the home slots of open streams (${wrapped} times)`);
    for (const id of [...model.keys()]) {
      close(id);
      table.delete(id); // twice: nothing happens
    }
    check();
    assert.equal(table.size, 0);
  });
});
