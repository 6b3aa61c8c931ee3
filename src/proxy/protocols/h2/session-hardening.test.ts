// Regression tests for the review findings on the own HTTP/2 codec (/tmp/s3-review-h2.md): hostile
// peers that provoke stream errors, never read, flood SETTINGS/GOAWAY, send odd :path/:authority or
// late frames, and owner callbacks that throw — each case failed on the code before its fix.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { connectH2, serveH2, validateHeaderListForTest, KIND_REQUEST } from './session.ts';
import type { H2ClientSession, H2ServerSession, H2Stream } from './api.ts';
import { H2_ENHANCE_YOUR_CALM, H2_FLOW_CONTROL_ERROR, H2_PROTOCOL_ERROR } from './api.ts';
import { declaredLengthHeadForTest, declaredLengthHeadBytesForTest, pairsOfForTest } from '../h2-bridge.ts';
import { FrameType, Flag, frame, literal, requestBlock } from '../../../../test/support/h2-frames.ts';
import { eventually, waitFor } from '../../../../test/support/wait.ts';
import { h2Loopback, u32, expectGoaway } from '../../../../test/support/h2-loopback.ts';

const { cleanups, listen, ownServer, rawClient } = h2Loopback();

describe('finding 1: stream errors provoked by the peer count as early resets (MadeYouReset)', () => {
  const provocations: [string, (id: number) => Buffer][] = [
    ['WINDOW_UPDATE increment 0', (id) => frame(FrameType.WINDOW_UPDATE, 0, id, u32(0))],
    ['WINDOW_UPDATE overflowing the stream window', (id) => frame(FrameType.WINDOW_UPDATE, 0, id, u32(0x7fffffff))],
    ['DATA beyond content-length', (id) => frame(FrameType.DATA, 0, id, Buffer.from('too long'))],
    ['trailers without END_STREAM', (id) => frame(FrameType.HEADERS, Flag.END_HEADERS, id, literal('x-t', '1'))],
  ];
  for (const [name, provoke] of provocations) {
    test(`HEADERS + ${name}, repeated → GOAWAY ENHANCE_YOUR_CALM`, async () => {
      let opened = 0;
      const { port } = await ownServer(() => opened++, { maxEarlyResetsPer10s: 50 });
      const raw = await rawClient(port);
      const frames: Buffer[] = [];
      for (let id = 1; id <= 401; id += 2) {
        frames.push(frame(FrameType.HEADERS, Flag.END_HEADERS, id, requestBlock('a', 'POST', '/', [literal('content-length', '1')])));
        frames.push(provoke(id));
      }
      raw.write(Buffer.concat(frames));
      await expectGoaway(raw, H2_ENHANCE_YOUR_CALM);
      assert.ok(opened <= 51, `at most the limit of streams reached the handler (${opened})`);
    });
  }

  test('streams the owner resets itself do not count', async () => {
    const { port } = await ownServer((stream) => stream.reset(H2_FLOW_CONTROL_ERROR), { maxEarlyResetsPer10s: 5 });
    const raw = await rawClient(port);
    for (let id = 1; id <= 41; id += 2) raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, requestBlock('a')));
    await eventually(() => raw.frames.filter((f) => f.type === FrameType.RST_STREAM).length === 21 || undefined, 'every stream reset');
    raw.write(frame(FrameType.PING, 0, 0, Buffer.from('stillok!')));
    await eventually(() => raw.frames.find((f) => f.type === FrameType.PING && f.payload.toString() === 'stillok!'), 'the session to answer');
    assert.equal(raw.goaway(), undefined);
  });
});

describe('finding 2: a peer that never reads cannot make the session buffer without bound', () => {
  test('requests keep coming, responses are not read: the server stops reading; once the peer reads, every request is answered', async () => {
    const bigValue = 'v'.repeat(5000); // larger than the HPACK table: every response head carries it in full
    let answered = 0;
    const { port, sessions } = await ownServer((stream) => {
      answered++;
      stream.sendHeaders([':status', '200', 'x-pad', bigValue], true);
    });
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    cleanups.push(() => socket.destroy());
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.pause(); // never reads until told
    const total = 20_000;
    const frames: Buffer[] = [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(FrameType.SETTINGS, 0, 0), frame(FrameType.SETTINGS, Flag.ACK, 0)];
    for (let i = 0; i < total; i++) frames.push(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1 + 2 * i, requestBlock('a')));
    socket.write(Buffer.concat(frames));
    // ~100 MB of response heads if nothing stopped the server; it must stop reading instead.
    await waitFor(() => sessions.length === 1 && answered > 0, 'the first requests');
    const server = sessions[0]!;
    const serverSocket = (server as unknown as { socket: net.Socket }).socket;
    await waitFor(() => serverSocket.isPaused(), 'the server to stop reading');
    const buffered = serverSocket.writableLength;
    assert.ok(buffered < 4 * 1024 * 1024, `the server buffers ${buffered} bytes`);
    assert.ok(answered < total, `the server stopped answering (${answered} of ${total})`);
    assert.equal(server.closed, false);
    // The peer reads now: the server reads again and answers everything.
    socket.on('data', () => {});
    socket.resume();
    await waitFor(() => answered === total, `all ${total} requests answered`, 60_000);
    assert.equal(server.closed, false);
  });
});

/** Counts how often the session walks its streams (the cost the SETTINGS/GOAWAY findings are about). */
function countStreamWalks(session: H2ServerSession): () => number {
  const streams = (session as unknown as { streams: Map<number, unknown> }).streams;
  let walks = 0;
  const values = streams.values.bind(streams);
  streams.values = () => {
    walks++;
    return values();
  };
  return () => walks;
}

describe('finding 3: SETTINGS and GOAWAY floods cost one walk over the streams, not one per entry/frame', () => {
  test('a SETTINGS frame of 1000 INITIAL_WINDOW_SIZE entries walks the streams once and applies the last value', async () => {
    const streams: H2Stream[] = [];
    const { port, sessions } = await ownServer((stream) => streams.push(stream));
    const raw = await rawClient(port);
    for (let id = 1; id <= 19; id += 2) raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS, id, requestBlock('a', 'POST')));
    await waitFor(() => streams.length === 10, 'ten open streams');
    const walks = countStreamWalks(sessions[0]!);
    const entries = Buffer.alloc(6 * 1000);
    for (let i = 0; i < 1000; i++) {
      entries.writeUInt16BE(0x4, i * 6);
      entries.writeUInt32BE(i === 999 ? 10 : 70000 + i, i * 6 + 2);
    }
    raw.write(frame(FrameType.SETTINGS, 0, 0, entries));
    raw.write(frame(FrameType.PING, 0, 0, Buffer.from('synced!!')));
    await eventually(() => raw.frames.find((f) => f.type === FrameType.PING && f.payload.toString() === 'synced!!'), 'the PING ack');
    assert.ok(walks() <= 1, `the streams were walked ${walks()} times`);
    // The last value (10 bytes) is what applies: a 100-byte body leaves in 10-byte DATA frames.
    streams[0]!.sendHeaders([':status', '200'], false);
    streams[0]!.sendData(Buffer.alloc(100, 1), true);
    const data = await eventually(() => raw.frames.find((f) => f.type === FrameType.DATA && f.stream === 1), 'DATA on stream 1');
    assert.equal(data.payload.length, 10);
    assert.equal(raw.goaway(), undefined);
  });

  test('repeated GOAWAYs do not walk the streams again, and a GOAWAY flood trips the control-frame guard', async () => {
    const streams: H2Stream[] = [];
    const { port, sessions } = await ownServer((stream) => streams.push(stream), { maxControlFramesPer10s: 500 });
    const raw = await rawClient(port);
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock('a', 'POST')));
    await waitFor(() => streams.length === 1, 'an open stream');
    const walks = countStreamWalks(sessions[0]!);
    const goaway = Buffer.alloc(8);
    goaway.writeUInt32BE(1, 0);
    const frames: Buffer[] = [];
    for (let i = 0; i < 300; i++) frames.push(frame(FrameType.GOAWAY, 0, 0, goaway));
    raw.write(Buffer.concat(frames));
    raw.write(frame(FrameType.PING, 0, 0, Buffer.from('synced!!')));
    await eventually(() => raw.frames.find((f) => f.type === FrameType.PING && f.payload.toString() === 'synced!!'), 'the PING ack');
    assert.ok(walks() <= 1, `the streams were walked ${walks()} times`);
    assert.equal(raw.goaway(), undefined);
    raw.write(Buffer.concat(frames));
    await expectGoaway(raw, H2_ENHANCE_YOUR_CALM);
  });
});

describe('finding 4: :path, :authority and host are validated before a request reaches the HTTP/1 side', () => {
  const req = (path: string, ...rest: string[]): string[] => [':method', 'GET', ':scheme', 'https', ':path', path, ...rest];
  test('rejects absolute-form, relative and * paths, userinfo, odd authorities, two hosts, a host unlike :authority', () => {
    const bad: string[][] = [
      req('http://admin.internal/secret?x=1', ':authority', 'app.default'),
      req('secret'),
      req('*'),
      req('/', ':authority', 'user:pw@evil.example'),
      req('/', ':authority', ''),
      req('/', ':authority', 'a b'),
      req('/', ':authority', 'a/b'),
      req('/', 'host', 'user:pw@evil.example'),
      req('/', 'host', 'a', 'host', 'b'),
      req('/', 'host', 'a', 'host', 'a'),
      req('/', ':authority', 'app.default', 'host', 'admin.internal'),
    ];
    for (const list of bad) assert.equal(validateHeaderListForTest(list, KIND_REQUEST), -2, JSON.stringify(list));
  });
  test('accepts origin-form, OPTIONS *, host:port, IP literals, a host equal to :authority', () => {
    const good: string[][] = [
      req('/a/b?c=d', ':authority', 'app.default:8080'),
      [':method', 'OPTIONS', ':scheme', 'http', ':path', '*', ':authority', 'a'],
      req('/', ':authority', '[::1]:8080'),
      req('/', ':authority', '10.0.0.1'),
      req('/', ':authority', 'App.Default', 'host', 'app.default'),
      req('/', 'host', 'app.default:80'),
    ];
    for (const list of good) assert.equal(validateHeaderListForTest(list, KIND_REQUEST), -1, JSON.stringify(list));
  });
  test('an absolute-form :path is refused with RST_STREAM(PROTOCOL_ERROR) and never reaches the handler', async () => {
    let opened = 0;
    const { port } = await ownServer(() => opened++);
    const raw = await rawClient(port);
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, requestBlock('app.default', 'GET', 'http://admin.internal/secret')));
    const rst = await eventually(() => raw.frames.find((f) => f.type === FrameType.RST_STREAM && f.stream === 1), 'RST_STREAM on stream 1');
    assert.equal(rst.payload.readUInt32BE(0), H2_PROTOCOL_ERROR);
    assert.equal(opened, 0);
  });
});

describe('finding 5: late frames on a stream we reset long ago', () => {
  test('trailers on a stream reset 100 resets ago are ignored; the connection stays', async () => {
    const streams: H2Stream[] = [];
    const { port } = await ownServer((stream) => {
      streams.push(stream);
      stream.onData = () => {};
    });
    const raw = await rawClient(port);
    for (let id = 1; id <= 201; id += 2) raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS, id, requestBlock('a', 'POST')));
    await waitFor(() => streams.length === 101, 'a hundred and one streams');
    for (const s of streams) s.reset(0x8 /* CANCEL */);
    await eventually(() => raw.frames.filter((f) => f.type === FrameType.RST_STREAM).length === 101 || undefined, 'every RST_STREAM');
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, literal('x-trailer', 'late')));
    raw.write(frame(FrameType.DATA, 0, 3, Buffer.from('late body')));
    raw.write(frame(FrameType.PING, 0, 0, Buffer.from('stillok!')));
    await eventually(() => raw.frames.find((f) => f.type === FrameType.PING && f.payload.toString() === 'stillok!'), 'the session to answer');
    assert.equal(raw.goaway(), undefined);
  });

  test('a flood of HEADERS on closed streams trips the control-frame guard', async () => {
    const { port } = await ownServer((stream) => stream.sendHeaders([':status', '204'], true), { maxControlFramesPer10s: 100 });
    const raw = await rawClient(port);
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, requestBlock('a')));
    await eventually(() => raw.frames.find((f) => f.type === FrameType.HEADERS && f.stream === 1), 'the response');
    const frames: Buffer[] = [];
    for (let i = 0; i < 300; i++) frames.push(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, literal('x-trailer', 'late')));
    raw.write(Buffer.concat(frames));
    await expectGoaway(raw, H2_ENHANCE_YOUR_CALM);
  });
});

describe('finding 6: an onWritable that throws', () => {
  test('run from the flush after back-pressure: that session is destroyed, the process lives, other sessions still flush', async () => {
    let bodies = 0;
    const closes: (Error | undefined)[] = [];
    const port = await listen((socket) => {
      const session = serveH2(socket, (stream) => {
        stream.onWritable = () => {
          throw new Error('owner bug in onWritable');
        };
        stream.sendHeaders([':status', '200'], false);
        // Beyond the session's write high-water mark: the stream stalls and is pumped again from the flush.
        stream.sendData(Buffer.alloc(200_000, 1), false);
        bodies++;
      });
      session.onClose = (e) => closes.push(e);
      cleanups.push(() => session.destroy());
    });
    const raw = await rawClient(port);
    const big = Buffer.alloc(6);
    big.writeUInt16BE(0x4, 0);
    big.writeUInt32BE(0x7fffffff, 2);
    raw.write(frame(FrameType.SETTINGS, 0, 0, big));
    raw.write(frame(FrameType.WINDOW_UPDATE, 0, 0, u32(0x7fffffff - 65535)));
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, requestBlock('a')));
    await waitFor(() => closes.length === 1, 'the session to close');
    assert.equal(bodies, 1);
    assert.match(String(closes[0]?.message), /owner bug in onWritable/);
    // Another session on the same process still works.
    const other = await rawClient(port);
    other.write(frame(FrameType.PING, 0, 0, Buffer.from('stillok!')));
    await eventually(() => other.frames.find((f) => f.type === FrameType.PING && f.payload.toString() === 'stillok!'), 'the other session to answer');
  });
});

describe('finding 7: a stream onClose that retries on its dying session', () => {
  const REQUEST = [':method', 'GET', ':scheme', 'http', ':authority', 'a', ':path', '/'];

  async function clientTo(port: number): Promise<{ session: H2ClientSession; socket: net.Socket }> {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    const session = connectH2(socket);
    cleanups.push(() => session.destroy());
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    return { session, socket };
  }

  function retryOnClose(session: H2ClientSession, stream: H2Stream): { outcome: string } {
    const result = { outcome: 'onClose not called' };
    stream.onClose = () => {
      try {
        session.request(REQUEST, true);
        result.outcome = 'a stream was opened';
      } catch (error) {
        result.outcome = (error as { code?: string }).code ?? String(error);
      }
    };
    return result;
  }

  test('the socket closes abruptly: request() from onClose throws H2_SESSION_CLOSED', async () => {
    const { port } = await ownServer(() => {});
    const { session, socket } = await clientTo(port);
    const result = retryOnClose(session, session.request(REQUEST, true));
    await waitFor(() => session.ready, 'the server SETTINGS');
    socket.destroy();
    await waitFor(() => result.outcome !== 'onClose not called', 'the stream to close');
    assert.equal(result.outcome, 'H2_SESSION_CLOSED');
    assert.equal(session.activeStreams, 0);
  });

  test('the peer half-closes: request() from onClose is refused (the session is draining)', async () => {
    const port = await listen((socket) => socket.once('data', () => socket.end()));
    const { session } = await clientTo(port);
    const result = retryOnClose(session, session.request(REQUEST, true));
    await waitFor(() => result.outcome !== 'onClose not called', 'the stream to close');
    assert.match(result.outcome, /^H2_SESSION_(DRAINING|CLOSED)$/);
    await waitFor(() => session.closed, 'the session to close');
    assert.equal(session.activeStreams, 0);
  });
});

describe('finding 8: a header table smaller than 4096 applies only once the peer has our SETTINGS', () => {
  /** Literal field with incremental indexing, new name, no Huffman (values under 127 bytes). */
  const indexedLiteral = (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0x40, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
  const indexed = (i: number): Buffer => Buffer.from([0x80 | i]);

  test('blocks sent before the ack may use the default 4096-byte table', async () => {
    let opened = 0;
    const { port } = await ownServer((stream) => {
      opened++;
      stream.sendHeaders([':status', '204'], true);
    }, { headerTableSize: 256 });
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    cleanups.push(() => socket.destroy());
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    // :authority (142 bytes in the table) then x-big (157): together above 256, within 4096.
    const first = Buffer.concat([indexed(2), indexed(6), indexed(4), indexedLiteral(':authority', 'a'.repeat(100)), indexedLiteral('x-big', 'b'.repeat(120))]);
    const second = Buffer.concat([indexed(2), indexed(6), indexed(4), indexed(63)]); // :authority, still in a 4096-byte table
    socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(FrameType.SETTINGS, 0, 0), frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, first), frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, second)]));
    await waitFor(() => opened === 2, 'both requests to reach the handler');
    const all = Buffer.concat(received);
    let goaway = false;
    for (let p = 0; p + 9 <= all.length; p += 9 + all.readUIntBE(p, 3)) if (all[p + 3] === FrameType.GOAWAY) goaway = true;
    assert.equal(goaway, false);
  });
});

describe('finding 9: PRIORITY errors on idle streams send no RST_STREAM', () => {
  test('self-dependency on an idle stream is ignored (no RST_STREAM) and the id opens normally later', async () => {
    const opened: number[] = [];
    const { port } = await ownServer((stream) => {
      opened.push(stream.id);
      stream.sendHeaders([':status', '204'], true);
    });
    const raw = await rawClient(port);
    raw.write(frame(FrameType.PRIORITY, 0, 103, Buffer.concat([u32(103), Buffer.from([16])])));
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 103, requestBlock('a')));
    await eventually(() => raw.frames.find((f) => f.type === FrameType.HEADERS && f.stream === 103), 'the response on 103');
    assert.deepEqual(opened, [103]);
    assert.equal(raw.frames.filter((f) => f.type === FrameType.RST_STREAM).length, 0);
  });

  test('a bad PRIORITY length on an idle stream is a connection FRAME_SIZE_ERROR; on an open stream a stream error', async () => {
    const { port } = await ownServer(() => {});
    const raw = await rawClient(port);
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock('a', 'POST')));
    raw.write(frame(FrameType.PRIORITY, 0, 1, Buffer.alloc(4)));
    const rst = await eventually(() => raw.frames.find((f) => f.type === FrameType.RST_STREAM && f.stream === 1), 'RST_STREAM on 1');
    assert.equal(rst.payload.readUInt32BE(0), 0x6 /* FRAME_SIZE_ERROR */);
    raw.write(frame(FrameType.PRIORITY, 0, 101, Buffer.alloc(4)));
    await expectGoaway(raw, 0x6);
    assert.equal(raw.frames.filter((f) => f.type === FrameType.RST_STREAM && f.stream === 101).length, 0);
  });
});

describe('finding 10: control characters in values; repeated content-length towards HTTP/1', () => {
  test('every control character but HTAB makes a field value malformed', () => {
    const base = [':method', 'GET', ':scheme', 'https', ':path', '/'];
    for (let c = 0; c < 0x20; c++) {
      const value = `a${String.fromCharCode(c)}b`;
      assert.equal(validateHeaderListForTest([...base, 'x-v', value], KIND_REQUEST), c === 0x09 ? -1 : -2, `char 0x${c.toString(16)}`);
    }
    assert.equal(validateHeaderListForTest([...base, 'x-v', 'a\x7fb'], KIND_REQUEST), -2);
    assert.equal(validateHeaderListForTest([...base, 'x-v', 'caf\xe9'], KIND_REQUEST), -1); // obs-text stays allowed
  });

  test('identical repeated content-length fields reach an HTTP/1 client once', () => {
    const list = [':status', '200', 'content-length', '5', 'content-length', '5', 'x-a', 'b'];
    const head = declaredLengthHeadForTest(200, list, null, false);
    assert.equal(head.match(/content-length/g)?.length, 1, head);
    assert.deepEqual(pairsOfForTest(list, null), [['content-length', '5'], ['x-a', 'b']]);
  });

  test('the bridge reuses the bytes of the last declared-length head only for an equal head (status, fields, edits, close)', () => {
    const editsA = { remove: ['x-drop'], append: ['x-mesh', '1'] };
    const editsB = { remove: [], append: [] };
    const base = [':status', '200', 'content-type', 'text/plain', 'x-drop', 'd', 'content-length', '5'];
    const calls: [number, string[], typeof editsA | null, boolean][] = [
      [200, base, editsA, false],
      [200, [...base], editsA, false], // equal strings, other array: same bytes
      [201, base, editsA, false], // other status
      [201, base, editsB, false], // other edits
      [201, base, editsB, true], // connection: close
      [201, base, null, true],
      [201, [...base.slice(0, 7), '6'], null, true], // one value changed
      [201, [...base.slice(0, 2), 'content-typf', ...base.slice(3)], null, true], // one name changed
      [201, [...base, 'x-more', 'm'], null, true], // one field more
      [201, base.slice(0, 6), null, true], // fewer
      [200, base, editsA, false], // back to the first
    ];
    let previous: Buffer | null = null;
    for (const [status, list, edits, close] of calls) {
      const bytes = declaredLengthHeadBytesForTest(status, list, edits, close);
      assert.equal(bytes.toString('latin1'), declaredLengthHeadForTest(status, list, edits, close), JSON.stringify([status, list, edits, close]));
      if (previous !== null && bytes === previous) assert.equal(bytes.toString('latin1'), previous.toString('latin1'));
      previous = bytes;
    }
    const first = declaredLengthHeadBytesForTest(200, base, editsA, false);
    assert.equal(declaredLengthHeadBytesForTest(200, [...base], editsA, false), first, 'an equal head reuses the same bytes');
  });
});

describe('finding 5 (cont.): a request head on a used stream id is still a connection error', () => {
  test('HEADERS with pseudo-headers on a closed stream id → GOAWAY PROTOCOL_ERROR', async () => {
    const { port } = await ownServer((stream) => stream.sendHeaders([':status', '204'], true));
    const raw = await rawClient(port);
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 5, requestBlock('a')));
    await eventually(() => raw.frames.find((f) => f.type === FrameType.HEADERS && f.stream === 5), 'the answer on 5');
    raw.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, requestBlock('a')));
    await expectGoaway(raw, H2_PROTOCOL_ERROR);
  });
});

describe('finding 2 (cont.): output nobody reads has a hard cap', () => {
  test('more than 16 MiB of response heads waiting in the socket destroys the session with GOAWAY ENHANCE_YOUR_CALM', async () => {
    const streams: H2Stream[] = [];
    const closes: (Error | undefined)[] = [];
    const port = await listen((socket) => {
      const session = serveH2(socket, (stream) => streams.push(stream));
      session.onClose = (e) => closes.push(e);
      cleanups.push(() => session.destroy());
    });
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    cleanups.push(() => socket.destroy());
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.pause(); // never reads
    const frames: Buffer[] = [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(FrameType.SETTINGS, 0, 0), frame(FrameType.SETTINGS, Flag.ACK, 0)];
    for (let i = 0; i < 900; i++) frames.push(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1 + 2 * i, requestBlock('a')));
    socket.write(Buffer.concat(frames));
    await waitFor(() => streams.length === 900, 'every stream open');
    const pad = 'p'.repeat(20_000); // above the HPACK table size: every head carries it in full
    for (const stream of streams) stream.sendHeaders([':status', '200', 'x-pad', pad], true);
    await waitFor(() => closes.length === 1, 'the session to be destroyed');
    assert.match(String(closes[0]?.message), /does not read/);
  });
});
