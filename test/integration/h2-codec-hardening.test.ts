// Hostile HTTP/2 input on raw sockets against weft's own codec: `serveH2` on a plain loopback listener
// (h2c), `connectH2` (the outbound side) against a hostile peer server, a real weft proxy's inbound
// listener over mTLS (ALPN h2, a mesh certificate), and a `weft proxy` process through repeated
// batches. Rapid reset, HPACK bombs, CONTINUATION floods, SETTINGS/PING floods, window overflow and
// flow control, frames on closed and idle streams, bad prefaces, oversized frames, half-open sockets
// and thousands of abrupt TCP resets: each case checks the session's answer (GOAWAY code or stream
// reset), that a well-behaved client is still served, and that sessions, streams and memory are
// released afterwards.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { connectH2, serveH2, H2SessionError } from '../../src/proxy/protocols/h2/session.ts';
import { HpackDecoder } from '../../src/proxy/protocols/h2/hpack.ts';
import {
  H2_CANCEL,
  H2_COMPRESSION_ERROR,
  H2_ENHANCE_YOUR_CALM,
  H2_FLOW_CONTROL_ERROR,
  H2_FRAME_SIZE_ERROR,
  H2_PROTOCOL_ERROR,
  H2_REFUSED_STREAM,
  H2_SETTINGS_TIMEOUT,
  H2_STREAM_CLOSED,
  type H2ServerSession,
  type H2SessionOptions,
  type H2Stream,
} from '../../src/proxy/protocols/h2/api.ts';
import { Flag, FrameType, PREFACE, frame, literal, requestBlock } from '../support/h2-frames.ts';
import type { Frame } from '../support/h2-frames.ts';
import { collect } from '../support/servers.ts';
import { identitySpec, startProxy } from '../support/proxies.ts';
import { makeTestPki, type TestIdentity } from '../support/pki.ts';
import { eventually, waitFor } from '../support/wait.ts';
import type { WeftProxy } from '../../src/proxy/proxy.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Heap in use after full collections (the figure that shows leaks; RSS is reported beside it). */
async function settledHeap(): Promise<{ heapUsed: number; rss: number }> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss };
}

const MB = 1024 * 1024;
const BIG_ANSWER = 2 * MB;
const PING_PAYLOAD = Buffer.from('weftping');
const EMPTY = Buffer.alloc(0);
const pause = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// ---------------------------------------------------------------------------------------------------
// A raw HTTP/2 client over any socket: writes whatever it is told, records and decodes what comes back.

interface Goaway {
  lastStreamId: number;
  code: number;
}

class HostileClient {
  readonly frames: Frame[] = [];
  decoder = new HpackDecoder();
  /** :status of each response HEADERS, by stream. */
  readonly statuses = new Map<number, string>();
  closed = false;
  ended = false;
  /** Windows the server granted us (for the flow-control cases). */
  connectionWindow = 65535;
  initialStreamWindow = 65535;
  readonly streamWindowUpdates = new Map<number, number>();
  pingAcks = 0;
  /** DATA payload bytes received (DATA frames are recorded with an empty payload). */
  dataBytes = 0;
  /** Acknowledge the server's SETTINGS (a client that sent no SETTINGS of its own must not: an ack first is a protocol error). */
  ackSettings = true;
  #pending: Buffer = Buffer.alloc(0);

  private constructor(readonly socket: Duplex) {
    socket.on('error', () => {});
    socket.on('end', () => (this.ended = true));
    socket.on('close', () => (this.closed = true));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  /** Plain TCP (h2c) to `port`; sends the preface and an empty SETTINGS unless told not to. */
  static async plain(port: number, opening: Buffer | null = Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0)]), ackSettings = true): Promise<HostileClient> {
    const socket = net.connect(port, '127.0.0.1');
    const client = new HostileClient(socket);
    client.ackSettings = ackSettings;
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    if (opening !== null) client.write(opening);
    return client;
  }

  /** mTLS with a mesh certificate and ALPN h2, as a peer proxy connects to an inbound listener. */
  static async mesh(port: number, identity: TestIdentity): Promise<HostileClient> {
    const raw = net.connect(port, '127.0.0.1');
    raw.on('error', () => {});
    const socket = tls.connect({
      socket: raw,
      key: identity.keyPem,
      cert: identity.certChainPem,
      ca: identity.trustBundlePem,
      ALPNProtocols: ['h2'],
      minVersion: 'TLSv1.3',
      checkServerIdentity: () => undefined,
    });
    const client = new HostileClient(socket);
    client.tcp = raw;
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    assert.equal(socket.alpnProtocol, 'h2');
    client.write(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0)]));
    return client;
  }

  /** The TCP socket under a TLS one (for abrupt resets). */
  tcp: net.Socket | null = null;

  write(bytes: Buffer): void {
    if (!this.closed && !this.socket.destroyed && this.socket.writable) this.socket.write(bytes);
  }

  #onData(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    while (this.#pending.length >= 9) {
      const length = this.#pending.readUIntBE(0, 3);
      if (this.#pending.length < 9 + length) break;
      const type = this.#pending[3]!;
      // DATA is counted, not kept (some cases download tens of MiB).
      const payload = type === FrameType.DATA ? EMPTY : Buffer.from(this.#pending.subarray(9, 9 + length));
      if (type === FrameType.DATA) this.dataBytes += length;
      const f: Frame = { type, flags: this.#pending[4]!, stream: this.#pending.readUInt32BE(5) & 0x7fffffff, payload };
      this.#pending = this.#pending.subarray(9 + length);
      this.frames.push(f);
      this.#onFrame(f);
    }
  }

  #onFrame(f: Frame): void {
    switch (f.type) {
      case FrameType.SETTINGS:
        if ((f.flags & Flag.ACK) === 0) {
          for (let i = 0; i + 6 <= f.payload.length; i += 6) if (f.payload.readUInt16BE(i) === 0x4) this.initialStreamWindow = f.payload.readUInt32BE(i + 2);
          if (this.ackSettings) this.write(frame(FrameType.SETTINGS, Flag.ACK, 0));
        }
        return;
      case FrameType.HEADERS: {
        // The server's heads are small: one HEADERS frame with END_HEADERS, no padding or priority.
        const out: string[] = [];
        this.decoder.decode(f.payload, out, 1 << 20);
        if (out[0] === ':status') this.statuses.set(f.stream, out[1]!);
        return;
      }
      case FrameType.WINDOW_UPDATE: {
        const increment = f.payload.readUInt32BE(0) & 0x7fffffff;
        if (f.stream === 0) this.connectionWindow += increment;
        else this.streamWindowUpdates.set(f.stream, (this.streamWindowUpdates.get(f.stream) ?? 0) + increment);
        return;
      }
      case FrameType.PING:
        if ((f.flags & Flag.ACK) !== 0) this.pingAcks++;
        return;
      default:
        return;
    }
  }

  goaway(): Goaway | undefined {
    const f = this.frames.find((x) => x.type === FrameType.GOAWAY);
    return f === undefined ? undefined : { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) };
  }

  async waitGoaway(what: string): Promise<Goaway> {
    return eventually(() => this.goaway(), `GOAWAY after ${what}`);
  }

  async waitClosed(what: string): Promise<void> {
    await waitFor(() => this.closed, `the server to close the connection after ${what}`);
  }

  rstCode(stream: number): number | undefined {
    const f = this.frames.find((x) => x.type === FrameType.RST_STREAM && x.stream === stream);
    return f?.payload.readUInt32BE(0);
  }

  /** Round trip: every frame the server sent before answering this PING has arrived when it resolves. */
  async sync(): Promise<void> {
    const before = this.pingAcks;
    this.write(frame(FrameType.PING, 0, 0, PING_PAYLOAD));
    await waitFor(() => this.pingAcks > before || this.closed, 'the PING ack');
  }

  destroy(): void {
    this.socket.destroy();
  }
}

const headers = (stream: number, block: Buffer, flags = Flag.END_HEADERS | Flag.END_STREAM): Buffer => frame(FrameType.HEADERS, flags, stream, block);
const rst = (stream: number, code = H2_CANCEL): Buffer => frame(FrameType.RST_STREAM, 0, stream, Buffer.from([0, 0, 0, code]));
const windowUpdate = (stream: number, increment: number): Buffer => {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(increment);
  return frame(FrameType.WINDOW_UPDATE, 0, stream, payload);
};

// ---------------------------------------------------------------------------------------------------
// Part 1: serveH2 on a plain listener.

interface CodecServer {
  port: number;
  /** Sessions not closed yet. */
  open: Set<H2ServerSession>;
  sessionsServed: number;
  streamsOpened: number;
  streamsClosed: number;
  /** Streams the handler saw, by path. */
  paths: Map<string, number>;
  /** DATA bytes delivered to /sink streams, which never consume them. */
  sinkBytes: number;
  /** /big streams (2 MiB answers, written while sendData says yes): bytes the codec accepted, streams waiting for onWritable, streams done. */
  bigAccepted: number;
  bigWaiting: Set<H2Stream>;
  bigDone: number;
  close(): Promise<void>;
}

async function startCodecServer(options: H2SessionOptions): Promise<CodecServer> {
  const state: CodecServer = { port: 0, open: new Set(), sessionsServed: 0, streamsOpened: 0, streamsClosed: 0, paths: new Map(), sinkBytes: 0, bigAccepted: 0, bigWaiting: new Set(), bigDone: 0, close: async () => {} };
  const chunk = Buffer.alloc(64 * 1024, 0x78);
  const onStream = (stream: H2Stream, list: string[], endStream: boolean): void => {
    state.streamsOpened++;
    let path = '';
    for (let i = 0; i < list.length; i += 2) if (list[i] === ':path') path = list[i + 1]!;
    state.paths.set(path, (state.paths.get(path) ?? 0) + 1);
    stream.onClose = () => state.streamsClosed++;
    if (path === '/hang') return;
    if (path === '/sink') {
      stream.onData = (data) => (state.sinkBytes += data.length);
      return;
    }
    if (path === '/big') {
      let remaining = BIG_ANSWER;
      const pump = (): void => {
        state.bigWaiting.delete(stream);
        while (remaining > 0) {
          remaining -= chunk.length;
          state.bigAccepted += chunk.length;
          if (remaining === 0) state.bigDone++;
          if (!stream.sendData(chunk, remaining === 0) && remaining > 0) {
            state.bigWaiting.add(stream);
            return;
          }
        }
      };
      stream.onWritable = pump;
      stream.sendHeaders([':status', '200'], false);
      pump();
      return;
    }
    stream.onData = (data) => stream.consume(data.length);
    const answer = (): void => {
      stream.sendHeaders([':status', '200', 'content-type', 'text/plain'], false);
      stream.sendData(Buffer.from('ok'), true);
    };
    if (endStream) answer();
    else stream.onData = (data, end) => (stream.consume(data.length), end && answer());
  };
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    const session = serveH2(socket, onStream, options);
    state.sessionsServed++;
    state.open.add(session);
    session.onClose = () => state.open.delete(session);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.close = async () => {
    for (const s of state.open) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  return state;
}

/** node's http2 client, a well-behaved third party: GET / must still answer "ok". */
async function stillServesH2c(port: number): Promise<void> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  try {
    const body = await collect(session.request({ ':path': '/', ':authority': 'codec.test' }));
    assert.equal(body.toString(), 'ok');
  } finally {
    session.destroy();
  }
}

describe('serveH2 under hostile input (h2c, raw sockets)', () => {
  const options: H2SessionOptions = {
    maxConcurrentStreams: 64,
    maxHeaderListSize: 8192,
    maxEarlyResetsPer10s: 100,
    maxControlFramesPer10s: 500,
    initialWindowSize: 256 * 1024,
    connectionWindowSize: 1 * MB,
    settingsTimeoutMs: 500,
  };
  let server: CodecServer;
  let baseline: { heapUsed: number; rss: number };
  const clients: HostileClient[] = [];
  const connect = async (opening?: Buffer | null, ackSettings = true): Promise<HostileClient> => {
    const c = await HostileClient.plain(server.port, opening, ackSettings);
    clients.push(c);
    return c;
  };
  const block = (path = '/', extra: Buffer[] = []): Buffer => requestBlock('codec.test', 'GET', path, extra);

  before(async () => {
    server = await startCodecServer(options);
    // Warm up the code paths (and V8's compiled code) before the baseline is taken.
    for (let i = 0; i < 20; i++) await stillServesH2c(server.port);
    baseline = await settledHeap();
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await server.close();
  });

  test('rapid reset: thousands of HEADERS + RST_STREAM get GOAWAY(ENHANCE_YOUR_CALM) within the limit, on every connection', async () => {
    for (let round = 0; round < 5; round++) {
      const c = await connect();
      const hangBefore = server.paths.get('/hang') ?? 0;
      let sent = 0;
      for (let i = 0; i < 2000 && !c.closed; i++) {
        const id = 1 + 2 * i;
        c.write(Buffer.concat([headers(id, block('/hang')), rst(id)]));
        sent++;
        if (i % 100 === 99) await pause();
      }
      const goaway = await c.waitGoaway('rapid reset');
      assert.equal(goaway.code, H2_ENHANCE_YOUR_CALM);
      await c.waitClosed('rapid reset');
      const handled = (server.paths.get('/hang') ?? 0) - hangBefore;
      assert.ok(handled <= options.maxEarlyResetsPer10s! + 1, `${handled} streams reached the handler of ${sent} sent`);
    }
    await stillServesH2c(server.port);
  });

  test('HPACK bomb: one 4 KB table entry referenced 2000 times is answered 431, never reaches the handler, and the connection stays usable', async () => {
    const c = await connect();
    const bombPathsBefore = server.paths.get('/bomb') ?? 0;
    // Literal with incremental indexing, new name, 4000-byte value (table entry 62) — then 2000 references to it.
    const entry = Buffer.concat([Buffer.from([0x40, 6]), Buffer.from('x-bomb'), Buffer.from([0x7f, 0xa1, 0x1e]), Buffer.alloc(4000, 0x62)]);
    const bomb = Buffer.concat([block('/bomb'), entry, Buffer.alloc(2000, 0xbe)]);
    c.write(headers(1, bomb));
    await waitFor(() => c.statuses.has(1) || c.closed, 'an answer to the bomb');
    assert.equal(c.statuses.get(1), '431');
    assert.equal((server.paths.get('/bomb') ?? 0) - bombPathsBefore, 0, 'the handler never saw it');
    // The dynamic table stayed in step: the next request on the same connection uses entry 62 once, and is served.
    c.write(headers(3, Buffer.concat([block('/'), Buffer.from([0xbe])])));
    await waitFor(() => c.statuses.has(3), 'the next request on the same connection');
    assert.equal(c.statuses.get(3), '200');
    assert.equal(c.goaway(), undefined);
  });

  test('HPACK: a malformed block (index beyond the tables) is a connection error, GOAWAY(COMPRESSION_ERROR)', async () => {
    const c = await connect();
    c.write(headers(1, Buffer.concat([block('/'), Buffer.from([0xff, 0x80, 0x01])])));
    assert.equal((await c.waitGoaway('a bad HPACK index')).code, H2_COMPRESSION_ERROR);
    await c.waitClosed('a bad HPACK index');
  });

  test('CONTINUATION flood: endless CONTINUATION without END_HEADERS, with and without payload, is cut off early', async () => {
    for (const piece of [literal('x-flood', 'a'.repeat(50)), Buffer.alloc(0)]) {
      const c = await connect();
      c.write(headers(1, block('/'), 0));
      let sent = 0;
      for (let i = 0; i < 50_000 && !c.closed && c.goaway() === undefined; i++) {
        c.write(frame(FrameType.CONTINUATION, 0, 1, piece));
        sent++;
        if (i % 500 === 499) await pause();
      }
      const goaway = await c.waitGoaway('a CONTINUATION flood');
      assert.equal(goaway.code, H2_ENHANCE_YOUR_CALM, `after ${sent} CONTINUATION frames of ${piece.length} bytes`);
      await c.waitClosed('a CONTINUATION flood');
      assert.ok(sent < 50_000, `cut off after ${sent} frames`);
    }
    await stillServesH2c(server.port);
  });

  test('SETTINGS flood and PING flood: GOAWAY(ENHANCE_YOUR_CALM), even from a client that never reads', async () => {
    for (const flood of [frame(FrameType.SETTINGS, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100])), frame(FrameType.PING, 0, 0, PING_PAYLOAD)]) {
      const c = await connect();
      await c.sync();
      (c.socket as net.Socket).pause(); // the acks pile up on the server unless it stops the flood
      const batch = Buffer.concat(Array.from({ length: 100 }, () => flood));
      for (let i = 0; i < 100 && !c.closed; i++) {
        c.write(batch);
        await pause();
      }
      (c.socket as net.Socket).resume();
      assert.equal((await c.waitGoaway('a control frame flood')).code, H2_ENHANCE_YOUR_CALM);
      await c.waitClosed('a control frame flood');
    }
    await stillServesH2c(server.port);
  });

  test('window overflow: a connection window above 2^31-1 is GOAWAY(FLOW_CONTROL_ERROR), a stream window above it resets that stream only', async () => {
    const c = await connect();
    c.write(headers(1, block('/hang'), Flag.END_HEADERS));
    c.write(windowUpdate(1, 0x7fffffff));
    await waitFor(() => c.rstCode(1) !== undefined, 'RST_STREAM on the overflowed stream');
    assert.equal(c.rstCode(1), H2_FLOW_CONTROL_ERROR);
    c.write(headers(3, block('/')));
    await waitFor(() => c.statuses.has(3), 'the connection still serves');
    c.write(windowUpdate(0, 0x7fffffff));
    assert.equal((await c.waitGoaway('a connection window overflow')).code, H2_FLOW_CONTROL_ERROR);
    await c.waitClosed('a connection window overflow');
  });

  test('DATA beyond the stream window resets the stream with FLOW_CONTROL_ERROR', async () => {
    const c = await connect();
    await c.sync();
    c.write(headers(1, block('/sink'), Flag.END_HEADERS));
    const chunk = Buffer.alloc(16384, 0x61);
    // 256 KiB stream window (SETTINGS) + one frame more; the connection window (1 MiB) has room.
    for (let sent = 0; sent <= options.initialWindowSize!; sent += chunk.length) c.write(frame(FrameType.DATA, 0, 1, chunk));
    await waitFor(() => c.rstCode(1) !== undefined || c.closed, 'the stream reset');
    assert.equal(c.rstCode(1), H2_FLOW_CONTROL_ERROR);
  });

  // The connection window is credited when DATA reaches a stream (so slow readers cannot stall the
  // other streams); what owners hold unread is bounded by the per-stream windows instead.
  test('a peer that respects the windows cannot make the server hold more unconsumed DATA than streams × stream window', async () => {
    const c = await connect();
    await c.sync();
    const streams = [1, 3, 5, 7, 9, 11, 13, 15];
    for (const id of streams) c.write(headers(id, block('/sink'), Flag.END_HEADERS));
    const sinkBefore = server.sinkBytes;
    const sentPerStream = new Map<number, number>(streams.map((id) => [id, 0]));
    let connectionSent = 0;
    // Send whatever the windows allow, sync, and go on while the server keeps granting more.
    for (let round = 0; round < 100; round++) {
      let progress = false;
      for (const id of streams) {
        const streamWindow = c.initialStreamWindow + (c.streamWindowUpdates.get(id) ?? 0) - sentPerStream.get(id)!;
        const room = Math.min(streamWindow, c.connectionWindow - connectionSent, 16384);
        if (room <= 0) continue;
        c.write(frame(FrameType.DATA, 0, id, Buffer.alloc(room, 0x62)));
        sentPerStream.set(id, sentPerStream.get(id)! + room);
        connectionSent += room;
        progress = true;
      }
      await waitFor(() => server.sinkBytes - sinkBefore === connectionSent || c.closed, 'the server to read what was sent');
      await c.sync();
      if (!progress || c.closed) break;
    }
    assert.equal(c.goaway(), undefined, 'no protocol error: the client kept to its windows');
    const held = server.sinkBytes - sinkBefore;
    const bound = streams.length * options.initialWindowSize!;
    assert.ok(held <= bound, `the server holds ${held} unconsumed bytes, more than ${streams.length} streams × ${options.initialWindowSize} window`);
  });

  test('a client that opens every window and stops reading: the codec says "wait" once the socket backs up, and resumes when it reads again', async () => {
    const huge = 0x7fffffff;
    const settings = Buffer.alloc(6);
    settings.writeUInt16BE(0x4, 0);
    settings.writeUInt32BE(huge, 2);
    const c = await connect(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0, settings), windowUpdate(0, huge - 65535)]));
    await c.sync();
    (c.socket as net.Socket).pause();
    const acceptedBefore = server.bigAccepted;
    const doneBefore = server.bigDone;
    const streams = 20;
    for (let i = 0; i < streams; i++) c.write(headers(1 + 2 * i, block('/big')));
    await waitFor(() => server.bigWaiting.size + (server.bigDone - doneBefore) === streams, 'every /big stream to wait or finish');
    const accepted = server.bigAccepted - acceptedBefore;
    assert.ok(accepted < 24 * MB, `the codec accepted ${(accepted / MB).toFixed(1)} MiB of ${(streams * BIG_ANSWER) / MB} MiB for a client that reads nothing`);
    assert.ok(server.bigWaiting.size > 0, 'streams wait for onWritable');
    (c.socket as net.Socket).resume();
    await waitFor(() => server.bigDone - doneBefore === streams && c.dataBytes >= streams * BIG_ANSWER, { what: 'every answer to arrive once the client reads', timeoutMs: 30_000 });
    assert.equal(c.dataBytes, streams * BIG_ANSWER);
    c.destroy();
  });

  test('a client that allows no HPACK dynamic table (SETTINGS_HEADER_TABLE_SIZE 0) gets heads that never refer to one', async () => {
    const noTable = Buffer.alloc(6);
    noTable.writeUInt16BE(0x1, 0);
    const c = await connect(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0, noTable)]));
    c.decoder = new HpackDecoder(0);
    for (let id = 1; id <= 9; id += 2) {
      c.write(headers(id, block('/')));
      await waitFor(() => c.statuses.has(id) || c.closed, `the answer on stream ${id}`);
      assert.equal(c.statuses.get(id), '200');
    }
    assert.equal(c.decoder.dynamicTableLength, 0);
    assert.equal(c.goaway(), undefined);
  });

  test('frames on closed and idle streams: ignored after a reset or end, connection errors on idle ids and on reused ids', async () => {
    const c = await connect();
    const openBefore = server.streamsOpened - server.streamsClosed;
    c.write(headers(1, block('/')));
    await waitFor(() => c.statuses.get(1) === '200', 'the first answer');
    await waitFor(() => server.streamsOpened - server.streamsClosed === openBefore, 'stream 1 closed');
    // Thousands of frames on the closed stream: no handler sees anything, the connection is not torn down by them.
    const pathsBefore = [...server.paths.values()].reduce((a, b) => a + b, 0);
    const closedFrames = Buffer.concat([rst(1), frame(FrameType.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 16])), windowUpdate(1, 1)]);
    for (let i = 0; i < 3000; i++) c.write(closedFrames);
    await c.sync();
    const afterClosed = c.goaway();
    assert.ok(afterClosed === undefined || afterClosed.code === H2_STREAM_CLOSED || afterClosed.code === H2_ENHANCE_YOUR_CALM, `GOAWAY code ${afterClosed?.code}`);
    assert.equal([...server.paths.values()].reduce((a, b) => a + b, 0), pathsBefore);
    // DATA on an idle stream: connection error PROTOCOL_ERROR.
    const idle = await connect();
    idle.write(frame(FrameType.DATA, 0, 41, Buffer.from('x')));
    assert.equal((await idle.waitGoaway('DATA on an idle stream')).code, H2_PROTOCOL_ERROR);
    // HEADERS that reuse a closed stream id: connection error.
    const reuse = await connect();
    reuse.write(headers(5, block('/')));
    await waitFor(() => reuse.statuses.has(5), 'the answer on stream 5');
    reuse.write(headers(3, block('/')));
    const goaway = await reuse.waitGoaway('HEADERS on a lower, closed stream id');
    assert.ok(goaway.code === H2_PROTOCOL_ERROR || goaway.code === H2_STREAM_CLOSED, `GOAWAY code ${goaway.code}`);
    await reuse.waitClosed('a reused stream id');
  });

  test('bad prefaces: HTTP/1.1 text, garbage, and a first frame that is not SETTINGS', async () => {
    for (const opening of [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'), Buffer.alloc(64, 0xff)]) {
      const c = await connect(opening);
      await c.waitClosed(`the preface ${JSON.stringify(opening.subarray(0, 16).toString('latin1'))}`);
      assert.ok(!c.frames.some((f) => f.type === FrameType.HEADERS), 'nothing was answered');
    }
    const c = await connect(Buffer.concat([PREFACE, frame(FrameType.PING, 0, 0, PING_PAYLOAD)]));
    assert.equal((await c.waitGoaway('a first frame that is not SETTINGS')).code, H2_PROTOCOL_ERROR);
    await c.waitClosed('a first frame that is not SETTINGS');
  });

  test('oversized frames: above SETTINGS_MAX_FRAME_SIZE is GOAWAY(FRAME_SIZE_ERROR), even before the payload arrives', async () => {
    const whole = await connect();
    whole.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.concat([block('/'), literal('x-pad', 'p'.repeat(16384))])));
    assert.equal((await whole.waitGoaway('a 16 KiB+ HEADERS frame')).code, H2_FRAME_SIZE_ERROR);
    await whole.waitClosed('an oversized frame');
    const headerOnly = await connect();
    await headerOnly.sync();
    // A frame header that announces 16 MiB - 1 bytes of DATA, and nothing after it.
    headerOnly.write(Buffer.from([0xff, 0xff, 0xff, FrameType.DATA, 0, 0, 0, 0, 1]));
    assert.equal((await headerOnly.waitGoaway('a frame header announcing 16 MiB')).code, H2_FRAME_SIZE_ERROR);
    await headerOnly.waitClosed('an oversized frame header');
  });

  test('half-open sockets: a client that half-closes mid-request, one that sends nothing, one that stops after the preface', async () => {
    const openedBefore = server.streamsOpened;
    const openBefore = server.streamsOpened - server.streamsClosed;
    const halfClosed = await connect();
    halfClosed.write(headers(1, block('/hang'), Flag.END_HEADERS));
    await waitFor(() => server.streamsOpened === openedBefore + 1, 'the stream to open');
    halfClosed.socket.end();
    await halfClosed.waitClosed('the client half-closed');
    await waitFor(() => server.streamsOpened - server.streamsClosed === openBefore, 'the hanging stream closed');

    const silent = await connect(null);
    await silent.waitClosed('a client that sent nothing (settings timeout)');
    const prefaceOnly = await connect(PREFACE, false);
    const goaway = await prefaceOnly.waitGoaway('a client that sent only the preface');
    assert.equal(goaway.code, H2_SETTINGS_TIMEOUT);
    await prefaceOnly.waitClosed('the settings timeout');
  });

  test('thousands of abrupt TCP resets mid-request release every session and stream', async () => {
    for (const c of clients.splice(0)) c.destroy();
    const partialBody = frame(FrameType.DATA, 0, 1, Buffer.alloc(1000, 0x63));
    for (let batch = 0; batch < 20; batch++) {
      const group = await Promise.all(Array.from({ length: 100 }, () => HostileClient.plain(server.port)));
      for (const c of group) c.write(Buffer.concat([headers(1, block('/hang'), Flag.END_HEADERS), partialBody, headers(3, block('/sink'), Flag.END_HEADERS)]));
      await Promise.all(group.map((c) => c.sync()));
      for (const c of group) (c.socket as net.Socket).resetAndDestroy();
    }
    await waitFor(() => server.open.size === 0, { what: 'every session to close', timeoutMs: 30_000 });
    await waitFor(() => server.streamsClosed === server.streamsOpened, 'every stream to close');
    await stillServesH2c(server.port);
  });

  test('after the whole batch: sessions and streams released, heap back near the baseline', async (t) => {
    for (const c of clients) c.destroy();
    clients.length = 0;
    await waitFor(() => server.open.size === 0, { what: 'every session to close', timeoutMs: 30_000 });
    assert.equal(server.streamsClosed, server.streamsOpened, 'every stream got onClose');
    const now = await settledHeap();
    t.diagnostic(`sessions served ${server.sessionsServed}, streams ${server.streamsOpened}; heap ${(baseline.heapUsed / MB).toFixed(1)} → ${(now.heapUsed / MB).toFixed(1)} MB, rss ${(baseline.rss / MB).toFixed(1)} → ${(now.rss / MB).toFixed(1)} MB`);
    assert.ok(now.heapUsed - baseline.heapUsed < 8 * MB, `heap grew by ${((now.heapUsed - baseline.heapUsed) / MB).toFixed(1)} MB`);
  });
});

// ---------------------------------------------------------------------------------------------------
// Part 1b: the client side (connectH2, what the outbound pool uses) against a hostile peer server.

/**
 * A raw server: sends its SETTINGS (unless told not to), acknowledges the client's, and hands every
 * other frame from the client to `onFrame` with the socket to answer on. Records GOAWAY codes.
 */
async function startHostileServer(onFrame: (socket: net.Socket, f: Frame) => void, sendSettings = true): Promise<{ port: number; goaways: number[]; close(): Promise<void> }> {
  const goaways: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    if (sendSettings) socket.write(frame(FrameType.SETTINGS, 0, 0));
    let pending = Buffer.alloc(0);
    let prefaceSeen = false;
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (!prefaceSeen) {
        if (pending.length < PREFACE.length) return;
        pending = pending.subarray(PREFACE.length);
        prefaceSeen = true;
      }
      while (pending.length >= 9) {
        const length = pending.readUIntBE(0, 3);
        if (pending.length < 9 + length) break;
        const f: Frame = { type: pending[3]!, flags: pending[4]!, stream: pending.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(pending.subarray(9, 9 + length)) };
        pending = pending.subarray(9 + length);
        if (f.type === FrameType.GOAWAY) goaways.push(f.payload.readUInt32BE(4));
        if (f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0 && sendSettings) socket.write(frame(FrameType.SETTINGS, Flag.ACK, 0));
        onFrame(socket, f);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    goaways,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

interface ClientOutcome {
  heads: number;
  streamCode: number | null | undefined;
  streamClosed: boolean;
  sessionClosed: boolean;
  sessionError: Error | undefined;
}

/** connectH2 to `port`, one GET; resolves once the stream and (when `untilSessionCloses`) the session are closed. */
async function clientAgainst(port: number, untilSessionCloses: boolean, options: H2SessionOptions = {}): Promise<ClientOutcome> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  const session = connectH2(socket, { maxHeaderListSize: 8192, maxControlFramesPer10s: 500, settingsTimeoutMs: 500, ...options });
  const outcome: ClientOutcome = { heads: 0, streamCode: undefined, streamClosed: false, sessionClosed: false, sessionError: undefined };
  session.onClose = (error) => {
    outcome.sessionClosed = true;
    outcome.sessionError = error;
  };
  const stream = session.request([':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'peer.test'], true);
  stream.onHeaders = () => outcome.heads++;
  stream.onClose = (code) => {
    outcome.streamClosed = true;
    outcome.streamCode = code;
  };
  await waitFor(() => outcome.streamClosed && (!untilSessionCloses || outcome.sessionClosed), 'the client stream (and session) to close');
  if (!session.closed) session.destroy();
  return outcome;
}

describe('connectH2 (the outbound side) against a hostile peer', () => {
  // 12 KB: over the 8 KiB list limit, within one 16 KiB frame.
  const bigHead = Buffer.concat([Buffer.from([0x88]), ...Array.from({ length: 12 }, (_, i) => literal(`x-big-${i}`, 'b'.repeat(1000)))]);

  test('a response head over maxHeaderListSize resets the stream (never delivered); the session stays open', async () => {
    const server = await startHostileServer((socket, f) => {
      if (f.type === FrameType.HEADERS) socket.write(headers(f.stream, bigHead));
    });
    try {
      const outcome = await clientAgainst(server.port, false);
      assert.equal(outcome.heads, 0);
      assert.equal(outcome.streamCode, H2_PROTOCOL_ERROR);
      assert.equal(outcome.sessionClosed, false);
    } finally {
      await server.close();
    }
  });

  test('HPACK bomb in a response (one 4 KB entry referenced 2000 times): the stream is reset, no head delivered', async () => {
    const entry = Buffer.concat([Buffer.from([0x40, 6]), Buffer.from('x-bomb'), Buffer.from([0x7f, 0xa1, 0x1e]), Buffer.alloc(4000, 0x62)]);
    const server = await startHostileServer((socket, f) => {
      if (f.type === FrameType.HEADERS) socket.write(headers(f.stream, Buffer.concat([Buffer.from([0x88]), entry, Buffer.alloc(2000, 0xbe)])));
    });
    try {
      const outcome = await clientAgainst(server.port, false);
      assert.equal(outcome.heads, 0);
      assert.equal(outcome.streamCode, H2_PROTOCOL_ERROR);
    } finally {
      await server.close();
    }
  });

  test('CONTINUATION flood, SETTINGS flood, PUSH_PROMISE and a malformed HPACK block each close the session with the right GOAWAY', async () => {
    const cases: [string, (socket: net.Socket, stream: number) => void, number][] = [
      [
        'CONTINUATION flood',
        (socket, stream) => {
          socket.write(headers(stream, Buffer.from([0x88]), 0));
          const piece = frame(FrameType.CONTINUATION, 0, stream, literal('x-flood', 'a'.repeat(50)));
          socket.write(Buffer.concat(Array.from({ length: 2000 }, () => piece)));
        },
        H2_ENHANCE_YOUR_CALM,
      ],
      ['SETTINGS flood', (socket) => socket.write(Buffer.concat(Array.from({ length: 2000 }, () => frame(FrameType.SETTINGS, 0, 0)))), H2_ENHANCE_YOUR_CALM],
      ['PUSH_PROMISE', (socket, stream) => socket.write(frame(5 /* PUSH_PROMISE */, Flag.END_HEADERS, stream, Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from([0x82, 0x84, 0x86])]))), H2_PROTOCOL_ERROR],
      ['malformed HPACK', (socket, stream) => socket.write(headers(stream, Buffer.from([0xff, 0x80, 0x01]))), H2_COMPRESSION_ERROR],
    ];
    for (const [what, attack, code] of cases) {
      const server = await startHostileServer((socket, f) => {
        if (f.type === FrameType.HEADERS) attack(socket, f.stream);
      });
      try {
        const outcome = await clientAgainst(server.port, true);
        assert.equal(outcome.heads, 0, what);
        assert.ok(outcome.sessionError instanceof H2SessionError, `${what}: ${String(outcome.sessionError)}`);
        await waitFor(() => server.goaways.length > 0, `the client's GOAWAY after ${what}`);
        assert.equal(server.goaways[0], code, what);
      } finally {
        await server.close();
      }
    }
  });

  test('DATA beyond the stream window resets the stream with FLOW_CONTROL_ERROR', async () => {
    const server = await startHostileServer((socket, f) => {
      if (f.type !== FrameType.HEADERS) return;
      socket.write(headers(f.stream, Buffer.from([0x88]), Flag.END_HEADERS));
      const chunk = frame(FrameType.DATA, 0, f.stream, Buffer.alloc(16384, 0x61));
      // The client's stream window is 64 KiB here; 5 frames exceed it.
      socket.write(Buffer.concat(Array.from({ length: 5 }, () => chunk)));
    });
    try {
      // Leave the stream's DATA unconsumed: onData is not set, so nothing re-opens the window.
      const outcome = await clientAgainst(server.port, false, { initialWindowSize: 65535 });
      assert.equal(outcome.streamCode, H2_FLOW_CONTROL_ERROR);
    } finally {
      await server.close();
    }
  });

  test('a peer that answers with HTTP/1.1 text, or never sends SETTINGS, fails the session instead of hanging it', async () => {
    const http1 = await startHostileServer((socket) => socket.write('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n'), false);
    const silent = await startHostileServer(() => {}, false);
    try {
      const text = await clientAgainst(http1.port, true);
      assert.ok(text.sessionError instanceof H2SessionError, String(text.sessionError));
      const quiet = await clientAgainst(silent.port, true);
      assert.ok(quiet.sessionError instanceof H2SessionError && quiet.sessionError.code === 'H2_SETTINGS_TIMEOUT', String(quiet.sessionError));
      assert.equal(quiet.streamClosed, true);
    } finally {
      await http1.close();
      await silent.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Part 2: the same abuse against a real weft proxy's inbound listener, over mTLS.

describe('weft proxy inbound (own codec, ALPN h2 over mTLS) under hostile input', () => {
  let client: TestIdentity;
  let proxy: WeftProxy;
  let inboundPort: number;
  let app: http.Server;
  let appPort: number;
  let appRequests = 0;
  const hanging: http.ServerResponse[] = [];
  let baseline: { heapUsed: number; rss: number };
  const clients: HostileClient[] = [];
  const connect = async (): Promise<HostileClient> => {
    const c = await HostileClient.mesh(inboundPort, client);
    clients.push(c);
    return c;
  };
  const block = (path = '/', extra: Buffer[] = []): Buffer => requestBlock('catalog', 'GET', path, [literal('weft-dst-port', String(appPort)), ...extra]);
  const maxHeaderBytes = 8192;
  const maxResetsPer10s = 100;

  async function stillServesMesh(): Promise<void> {
    const session = http2.connect(`https://127.0.0.1:${inboundPort}`, {
      createConnection: () =>
        tls.connect({ host: '127.0.0.1', port: inboundPort, key: client.keyPem, cert: client.certChainPem, ca: client.trustBundlePem, ALPNProtocols: ['h2'], minVersion: 'TLSv1.3', checkServerIdentity: () => undefined }),
    });
    session.on('error', () => {});
    try {
      const body = await collect(session.request({ ':method': 'GET', ':path': '/', ':authority': 'catalog', 'weft-dst-port': String(appPort) }));
      assert.equal(body.toString(), 'ok');
    } finally {
      session.destroy();
    }
  }

  before(async () => {
    const pki = await makeTestPki({ trustDomain: 'test.local' });
    const server = await pki.issue('shop/catalog');
    client = await pki.issue('shop/web');
    app = http.createServer((req, res) => {
      appRequests++;
      if (req.url === '/hang') {
        hanging.push(res);
        return;
      }
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    appPort = (app.address() as AddressInfo).port;
    proxy = await startProxy({
      workload: {
        name: 'catalog',
        namespace: 'shop',
        trustDomain: 'test.local',
        identity: identitySpec(server),
        inbound: { mtlsMode: 'STRICT', ports: [{ port: appPort, protocol: 'http1' }] },
      },
      listeners: { outbound: null, inbound: { address: '127.0.0.1', port: 0 }, admin: null },
      limits: { maxHeaderBytes, maxResetsPer10s, maxConcurrentStreams: 32 },
    });
    inboundPort = proxy.addresses.inbound!.port;
    for (let i = 0; i < 10; i++) await stillServesMesh();
    baseline = await settledHeap();
  });
  after(async () => {
    for (const c of clients) c.destroy();
    for (const res of hanging) res.destroy();
    await proxy?.close();
    app?.closeAllConnections();
    await new Promise((resolve) => app?.close(resolve));
  });

  test('rapid reset over mTLS: GOAWAY(ENHANCE_YOUR_CALM), few requests reach the app', async () => {
    const before = appRequests;
    for (let round = 0; round < 3; round++) {
      const c = await connect();
      for (let i = 0; i < 2000 && !c.closed && c.goaway() === undefined; i++) {
        const id = 1 + 2 * i;
        c.write(Buffer.concat([headers(id, block('/hang')), rst(id)]));
        if (i % 100 === 99) await pause();
      }
      assert.equal((await c.waitGoaway('rapid reset')).code, H2_ENHANCE_YOUR_CALM);
      await c.waitClosed('rapid reset');
    }
    assert.ok(appRequests - before <= 3 * (maxResetsPer10s + 1), `${appRequests - before} requests reached the app`);
    await stillServesMesh();
  });

  test('HPACK bomb over mTLS: 431 from the proxy, nothing forwarded; a malformed block is GOAWAY(COMPRESSION_ERROR)', async () => {
    const before = appRequests;
    const c = await connect();
    const entry = Buffer.concat([Buffer.from([0x40, 6]), Buffer.from('x-bomb'), Buffer.from([0x7f, 0xa1, 0x1e]), Buffer.alloc(4000, 0x62)]);
    c.write(headers(1, Buffer.concat([block('/bomb'), entry, Buffer.alloc(2000, 0xbe)])));
    await waitFor(() => c.statuses.has(1) || c.closed || c.rstCode(1) !== undefined, 'an answer to the bomb');
    assert.equal(c.statuses.get(1), '431');
    c.write(headers(3, Buffer.concat([block('/'), Buffer.from([0xff, 0x80, 0x01])])));
    assert.equal((await c.waitGoaway('a bad HPACK index')).code, H2_COMPRESSION_ERROR);
    assert.equal(appRequests, before, 'nothing reached the app');
  });

  test('CONTINUATION flood, SETTINGS flood and oversized frames over mTLS close the connection with the right code', async () => {
    const cont = await connect();
    cont.write(headers(1, block('/'), 0));
    const piece = literal('x-flood', 'a'.repeat(50));
    for (let i = 0; i < 20_000 && !cont.closed && cont.goaway() === undefined; i++) {
      cont.write(frame(FrameType.CONTINUATION, 0, 1, piece));
      if (i % 500 === 499) await pause();
    }
    assert.equal((await cont.waitGoaway('a CONTINUATION flood')).code, H2_ENHANCE_YOUR_CALM);

    const settings = await connect();
    const flood = Buffer.concat(Array.from({ length: 200 }, () => frame(FrameType.SETTINGS, 0, 0)));
    for (let i = 0; i < 200 && !settings.closed && settings.goaway() === undefined; i++) {
      settings.write(flood);
      await pause();
    }
    assert.equal((await settings.waitGoaway('a SETTINGS flood')).code, H2_ENHANCE_YOUR_CALM);

    const oversized = await connect();
    oversized.write(Buffer.from([0xff, 0xff, 0xff, FrameType.HEADERS, 0, 0, 0, 0, 1]));
    assert.equal((await oversized.waitGoaway('an oversized frame')).code, H2_FRAME_SIZE_ERROR);
    for (const c of [cont, settings, oversized]) await c.waitClosed('a connection error');
    await stillServesMesh();
  });

  test('streams beyond maxConcurrentStreams are refused, the rest are served', async () => {
    const c = await connect();
    await c.sync();
    for (let i = 0; i < 40; i++) c.write(headers(1 + 2 * i, block('/hang')));
    await waitFor(() => c.frames.filter((f) => f.type === FrameType.RST_STREAM).length >= 8, 'the refused streams');
    const refused = c.frames.filter((f) => f.type === FrameType.RST_STREAM && f.payload.readUInt32BE(0) === H2_REFUSED_STREAM).length;
    assert.equal(refused, 8);
    c.destroy();
  });

  test('hundreds of abrupt TCP resets under TLS mid-request, then heap back near the baseline', async (t) => {
    for (let batch = 0; batch < 6; batch++) {
      const group = await Promise.all(Array.from({ length: 50 }, () => connect()));
      for (const c of group) c.write(Buffer.concat([headers(1, block('/hang'), Flag.END_HEADERS), frame(FrameType.DATA, 0, 1, Buffer.alloc(500, 0x64))]));
      await Promise.all(group.map((c) => c.sync()));
      for (const c of group) c.tcp!.resetAndDestroy();
    }
    for (const c of clients) c.destroy();
    clients.length = 0;
    for (const res of hanging.splice(0)) res.end('late');
    await stillServesMesh();
    // The proxy closes its app-side requests of reset streams; give the sockets a positive signal to settle.
    await eventually(async () => {
      const now = await settledHeap();
      return now.heapUsed - baseline.heapUsed < 12 * MB ? now : undefined;
    }, { what: 'the heap to return near its baseline', timeoutMs: 20_000, intervalMs: 200 }).then(
      (now) => t.diagnostic(`heap ${(baseline.heapUsed / MB).toFixed(1)} → ${(now.heapUsed / MB).toFixed(1)} MB, rss ${(baseline.rss / MB).toFixed(1)} → ${(now.rss / MB).toFixed(1)} MB`),
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// Part 3: a `weft proxy --bootstrap` process: it survives the whole batch, and its own RSS (read from
// its admin /memory) does not keep growing from one batch to the next.

describe('a weft proxy process under repeated batches of hostile h2 input', () => {
  let child: ChildProcess;
  let inboundPort: number;
  let adminPort: number;
  let appPort: number;
  let app: http.Server;
  let client: TestIdentity;
  const block = (path = '/'): Buffer => requestBlock('catalog', 'GET', path, [literal('weft-dst-port', String(appPort))]);

  function getJson(port: number, path: string): Promise<{ rssBytes: number; heapUsedBytes: number }> {
    return new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => void collect(res).then((b) => resolve(JSON.parse(b.toString()) as { rssBytes: number; heapUsedBytes: number }))).on('error', reject);
    });
  }

  async function wellBehaved(count: number): Promise<void> {
    const session = http2.connect(`https://127.0.0.1:${inboundPort}`, {
      createConnection: () =>
        tls.connect({ host: '127.0.0.1', port: inboundPort, key: client.keyPem, cert: client.certChainPem, ca: client.trustBundlePem, ALPNProtocols: ['h2'], minVersion: 'TLSv1.3', checkServerIdentity: () => undefined }),
    });
    session.on('error', () => {});
    try {
      for (let i = 0; i < count; i++) {
        const body = await collect(session.request({ ':method': 'GET', ':path': '/', ':authority': 'catalog', 'weft-dst-port': String(appPort) }));
        assert.equal(body.toString(), 'ok');
      }
    } finally {
      session.destroy();
    }
  }

  /** One batch: rapid reset, HPACK bomb, CONTINUATION flood, SETTINGS flood, and 200 abrupt TCP resets mid-request. */
  async function hostileBatch(): Promise<void> {
    const abusers: HostileClient[] = [];
    const open = async (): Promise<HostileClient> => {
      const c = await HostileClient.mesh(inboundPort, client);
      abusers.push(c);
      return c;
    };
    const rapid = await open();
    for (let i = 0; i < 1000 && !rapid.closed && rapid.goaway() === undefined; i++) {
      rapid.write(Buffer.concat([headers(1 + 2 * i, block('/hang')), rst(1 + 2 * i)]));
      if (i % 100 === 99) await pause();
    }
    assert.equal((await rapid.waitGoaway('rapid reset')).code, H2_ENHANCE_YOUR_CALM);
    const bomb = await open();
    const entry = Buffer.concat([Buffer.from([0x40, 6]), Buffer.from('x-bomb'), Buffer.from([0x7f, 0xa1, 0x1e]), Buffer.alloc(4000, 0x62)]);
    bomb.write(headers(1, Buffer.concat([block('/bomb'), entry, Buffer.alloc(2000, 0xbe)])));
    await waitFor(() => bomb.statuses.get(1) === '431', 'the 431 for the bomb');
    const cont = await open();
    cont.write(headers(1, block('/'), 0));
    const piece = literal('x-flood', 'a'.repeat(50));
    for (let i = 0; i < 5000 && !cont.closed && cont.goaway() === undefined; i++) {
      cont.write(frame(FrameType.CONTINUATION, 0, 1, piece));
      if (i % 500 === 499) await pause();
    }
    assert.equal((await cont.waitGoaway('a CONTINUATION flood')).code, H2_ENHANCE_YOUR_CALM);
    const settings = await open();
    const flood = Buffer.concat(Array.from({ length: 200 }, () => frame(FrameType.SETTINGS, 0, 0)));
    for (let i = 0; i < 200 && !settings.closed && settings.goaway() === undefined; i++) {
      settings.write(flood);
      await pause();
    }
    assert.equal((await settings.waitGoaway('a SETTINGS flood')).code, H2_ENHANCE_YOUR_CALM);
    for (let round = 0; round < 4; round++) {
      const group = await Promise.all(Array.from({ length: 50 }, () => open()));
      for (const c of group) c.write(Buffer.concat([headers(1, block('/hang'), Flag.END_HEADERS), frame(FrameType.DATA, 0, 1, Buffer.alloc(500, 0x64))]));
      await Promise.all(group.map((c) => c.sync()));
      for (const c of group) c.tcp!.resetAndDestroy();
    }
    for (const c of abusers) c.destroy();
  }

  before(async () => {
    const pki = await makeTestPki({ trustDomain: 'test.local' });
    const server = await pki.issue('shop/catalog');
    client = await pki.issue('shop/web');
    app = http.createServer((req, res) => {
      if (req.url === '/hang') {
        // Answered late, so the proxy's app-side requests do not pile up across batches.
        setTimeout(() => res.end('late'), 200);
        return;
      }
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    appPort = (app.address() as AddressInfo).port;
    const dir = mkdtempSync(join(tmpdir(), 'weft-h2-hardening-'));
    const file = join(dir, 'proxy.json');
    writeFileSync(
      file,
      JSON.stringify({
        workload: { name: 'catalog', namespace: 'shop', trustDomain: 'test.local', identity: identitySpec(server), inbound: { mtlsMode: 'STRICT', ports: [{ port: appPort, protocol: 'http1' }] } },
        listeners: { outbound: null, inbound: { address: '127.0.0.1', port: 0 }, admin: { address: '127.0.0.1', port: 0 } },
        limits: { maxResetsPer10s: 100, maxHeaderBytes: 8192 },
      }),
    );
    const weft = join(new URL('../..', import.meta.url).pathname, 'bin', 'weft.js');
    child = spawn(process.execPath, [weft, 'proxy', '--bootstrap', file], { env: { ...process.env, WEFT_FROM_SOURCE: '1', WEFT_LOG_LEVEL: 'error', NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const first = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`weft proxy exited ${code}: ${stderr}`)));
    });
    const ports = JSON.parse(first) as { inbound: number; admin: number };
    // Keep reading what it prints: a full stdout pipe would block the proxy's event loop.
    child.stdout!.resume();
    inboundPort = ports.inbound;
    adminPort = ports.admin;
  });
  after(async () => {
    if (child !== undefined && child.exitCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    app?.closeAllConnections();
    await new Promise((resolve) => app?.close(resolve));
  });

  test('three batches: the process serves throughout, and its RSS after the third is within 16 MB of the first', async (t) => {
    await wellBehaved(200);
    const idle = await getJson(adminPort, '/memory');
    const rss: number[] = [];
    for (let batch = 0; batch < 3; batch++) {
      await hostileBatch();
      await wellBehaved(50);
      assert.equal(child.exitCode, null, 'the proxy process is alive');
      rss.push((await getJson(adminPort, '/memory')).rssBytes);
    }
    t.diagnostic(`proxy RSS: after warm-up ${(idle.rssBytes / MB).toFixed(1)} MB, after batches ${rss.map((r) => (r / MB).toFixed(1)).join(', ')} MB`);
    assert.ok(rss[2]! - rss[0]! < 16 * MB, `RSS grew from ${(rss[0]! / MB).toFixed(1)} to ${(rss[2]! / MB).toFixed(1)} MB over two more batches`);
  });
});
