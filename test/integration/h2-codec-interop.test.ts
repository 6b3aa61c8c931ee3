// Interop of weft's own HTTP/2 codec with independent implementations on loopback: node's http2 client
// and nghttp (nghttp2-client) against a serveH2 echo server; connectH2 against node's http2 server (h2c
// and TLS with ALPN h2); h2load against serveH2. Methods, many and large headers (CONTINUATION), bodies
// of 0 B / 1 KiB / 5 MiB (flow control both ways), trailers, 200 concurrent streams, resets mid-body,
// and frames larger than 16 KiB when the receiver advertises a larger SETTINGS_MAX_FRAME_SIZE.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { connectH2, serveH2 } from '../../src/proxy/protocols/h2/session.ts';
import type { H2ClientSession, H2HeaderList, H2ServerSession, H2Stream } from '../../src/proxy/protocols/h2/api.ts';
import { H2_CANCEL } from '../../src/proxy/protocols/h2/api.ts';
import { makeTestPki } from '../support/pki.ts';
import { eventually, waitFor } from '../support/wait.ts';

const run = promisify(execFile);
const onPath = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

function digest(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function pattern(size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
  return b;
}

/** What the echo server saw of one stream, for assertions. */
interface Seen {
  headers: H2HeaderList;
  closeCode: number | null | undefined;
  bytes: number;
}

/**
 * The echo handler: answers 200 with x-echo-method / x-echo-path / every x-* request header, the
 * request body back (with backpressure: received bytes are consumed only once sent on), and the
 * request's trailers back as response trailers.
 */
function echoHandler(seen: Seen[]) {
  return (stream: H2Stream, headers: H2HeaderList, endStream: boolean): void => {
    const record: Seen = { headers, closeCode: undefined, bytes: 0 };
    seen.push(record);
    let method = '';
    let path = '';
    const response: H2HeaderList = [':status', '200'];
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (name === ':method') method = headers[i + 1]!;
      else if (name === ':path') path = headers[i + 1]!;
      else if (name.startsWith('x-')) response.push(name, headers[i + 1]!);
    }
    response.push('x-echo-method', method, 'x-echo-path', path);
    let unconsumed = 0;
    stream.onClose = (code) => {
      record.closeCode = code;
    };
    if (method === 'HEAD') {
      stream.sendHeaders(response, true);
      return;
    }
    if (path.startsWith('/hold')) {
      // Never answers: the client ends the stream with a reset.
      stream.onData = (chunk) => {
        record.bytes += chunk.length;
        stream.consume(chunk.length);
      };
      return;
    }
    stream.sendHeaders(response, endStream);
    if (endStream) return;
    stream.onWritable = () => {
      stream.consume(unconsumed);
      unconsumed = 0;
    };
    stream.onData = (chunk, end) => {
      record.bytes += chunk.length;
      const ok = chunk.length > 0 || end ? stream.sendData(Buffer.from(chunk), end) : true;
      if (ok) stream.consume(chunk.length);
      else unconsumed += chunk.length;
    };
    stream.onTrailers = (trailers) => stream.sendTrailers(trailers);
  };
}

function listenServeH2(seen: Seen[], sessions: H2ServerSession[]): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    sessions.push(serveH2(socket, echoHandler(seen)));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const portOf = (server: net.Server | http2.Http2Server | http2.Http2SecureServer): number => (server.address() as net.AddressInfo).port;

interface NodeResult {
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | undefined;
}

/** One request from node's http2 client. */
function nodeRequest(client: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer, trailers?: http2.OutgoingHttpHeaders): Promise<NodeResult> {
  return new Promise((resolve, reject) => {
    const req = client.request(headers, { endStream: body === undefined && trailers === undefined, waitForTrailers: trailers !== undefined });
    if (trailers !== undefined) req.on('wantTrailers', () => req.sendTrailers(trailers));
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let responseTrailers: http2.IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    req.on('response', (h) => (responseHeaders = h));
    req.on('trailers', (t) => (responseTrailers = t));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ headers: responseHeaders, body: Buffer.concat(chunks), trailers: responseTrailers }));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else if (trailers !== undefined) req.end();
  });
}

describe('node http2 client → serveH2 echo server (h2c)', () => {
  const seen: Seen[] = [];
  const sessions: H2ServerSession[] = [];
  let server: net.Server;
  let client: http2.ClientHttp2Session;

  before(async () => {
    server = await listenServeH2(seen, sessions);
    client = http2.connect(`http://127.0.0.1:${portOf(server)}`);
    client.on('error', () => {});
  });
  after(() => {
    client.close();
    for (const s of sessions) s.destroy();
    server.close();
  });

  test('methods come through with their path, and HEAD gets no body', async () => {
    for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const r = await nodeRequest(client, { ':method': method, ':path': `/m/${method}?q=1` }, method === 'GET' ? undefined : Buffer.from(method));
      assert.equal(r.headers[':status'], 200);
      assert.equal(r.headers['x-echo-method'], method);
      assert.equal(r.headers['x-echo-path'], `/m/${method}?q=1`);
      assert.equal(r.body.toString(), method === 'GET' ? '' : method);
    }
    const head = await nodeRequest(client, { ':method': 'HEAD', ':path': '/h' });
    assert.equal(head.headers['x-echo-method'], 'HEAD');
    assert.equal(head.body.length, 0);
  });

  test('many headers and a 40 KiB head (sent as HEADERS + CONTINUATION) arrive intact', async () => {
    const headers: http2.OutgoingHttpHeaders = { ':method': 'GET', ':path': '/big' };
    for (let i = 0; i < 100; i++) headers[`x-h${i}`] = `value-${i}-${'v'.repeat(i * 3)}`;
    headers['x-large'] = 'L'.repeat(20_000);
    headers['x-large2'] = 'M'.repeat(10_000);
    const r = await nodeRequest(client, headers);
    for (let i = 0; i < 100; i++) assert.equal(r.headers[`x-h${i}`], `value-${i}-${'v'.repeat(i * 3)}`);
    assert.equal(r.headers['x-large'], 'L'.repeat(20_000));
    assert.equal(r.headers['x-large2'], 'M'.repeat(10_000));
  });

  test('bodies of 0 B, 1 KiB and 5 MiB echo back byte for byte (flow control both ways)', async () => {
    for (const size of [0, 1024, 5 * 1024 * 1024]) {
      const body = pattern(size);
      const r = await nodeRequest(client, { ':method': 'POST', ':path': `/body/${size}` }, body);
      assert.equal(r.body.length, size);
      assert.equal(digest(r.body), digest(body));
    }
  });

  test('request trailers come back as response trailers', async () => {
    const r = await nodeRequest(client, { ':method': 'POST', ':path': '/trailers' }, undefined, { 'x-checksum': 'abc123', 'grpc-status': '0' });
    assert.equal(r.trailers?.['x-checksum'], 'abc123');
    assert.equal(r.trailers?.['grpc-status'], '0');
  });

  test('200 concurrent streams all complete with their own bodies', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => nodeRequest(client, { ':method': 'POST', ':path': `/c/${i}` }, Buffer.from(`body-${i}-${'x'.repeat(i * 10)}`))),
    );
    results.forEach((r, i) => {
      assert.equal(r.headers['x-echo-path'], `/c/${i}`);
      assert.equal(r.body.toString(), `body-${i}-${'x'.repeat(i * 10)}`);
    });
  });

  test('a client reset mid-body reaches the server stream as onClose(CANCEL) and the session goes on', async () => {
    const before = seen.length;
    const req = client.request({ ':method': 'POST', ':path': '/hold-reset-me' });
    req.on('error', () => {});
    req.write(pattern(50_000));
    const record = await eventually(() => seen.slice(before).find((s) => s.bytes > 0));
    req.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => record.closeCode !== undefined, 'the server stream to close');
    assert.equal(record.closeCode, H2_CANCEL);
    const r = await nodeRequest(client, { ':method': 'GET', ':path': '/after-reset' });
    assert.equal(r.headers['x-echo-path'], '/after-reset');
  });
});

describe('nghttp (nghttp2-client) → serveH2 echo server', { skip: onPath('nghttp') ? false : 'nghttp not on PATH: install Debian package nghttp2-client' }, () => {
  const seen: Seen[] = [];
  const sessions: H2ServerSession[] = [];
  let server: net.Server;
  let dir: string;
  before(async () => {
    server = await listenServeH2(seen, sessions);
    dir = mkdtempSync(join(tmpdir(), 'weft-h2-'));
  });
  after(() => {
    for (const s of sessions) s.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('GET with extra headers and a 1 MiB upload echo back', async () => {
    const url = `http://127.0.0.1:${portOf(server)}/nghttp`;
    const get = await run('nghttp', ['-v', '-H', 'x-from: nghttp', url]);
    assert.match(get.stdout, /:status: 200/);
    assert.match(get.stdout, /x-from: nghttp/);
    assert.match(get.stdout, /x-echo-method: GET/);
    const file = join(dir, 'upload.bin');
    const body = pattern(1024 * 1024);
    writeFileSync(file, body);
    const post = await run('nghttp', ['-d', file, url], { encoding: 'buffer', maxBuffer: 8 << 20 });
    assert.equal(digest(post.stdout), digest(body));
  });

  test('request trailers come back as response trailers; a small header table (-c 0) works', async () => {
    const url = `http://127.0.0.1:${portOf(server)}/nghttp-trailers`;
    const file = join(dir, 'small.bin');
    writeFileSync(file, 'hello');
    const out = await run('nghttp', ['-v', '-c', '0', '-d', file, '--trailer', 'x-sum: 5', url]);
    assert.match(out.stdout, /:status: 200/);
    // The response trailers arrive in a HEADERS frame after the DATA: nghttp prints them as received headers.
    const afterData = out.stdout.slice(out.stdout.lastIndexOf('recv DATA'));
    assert.match(afterData, /x-sum: 5/);
    assert.match(out.stdout, /hello/);
  });
});

describe('h2load (nghttp2-client) → serveH2', { skip: onPath('h2load') ? false : 'h2load not on PATH: install Debian package nghttp2-client' }, () => {
  test('5000 requests over 4 connections × 20 streams complete with 0 errors', async () => {
    const sessions: H2ServerSession[] = [];
    const server = await listenServeH2([], sessions);
    try {
      const { stdout } = await run('h2load', ['-n', '5000', '-c', '4', '-m', '20', `http://127.0.0.1:${portOf(server)}/load`]);
      assert.match(stdout, /requests: 5000 total, 5000 started, 5000 done, 5000 succeeded, 0 failed, 0 errored/);
      assert.match(stdout, /status codes: 5000 2xx/);
    } finally {
      for (const s of sessions) s.destroy();
      server.close();
    }
  });

  test('over TLS 1.3 with ALPN h2: 3000 requests with 1 KiB bodies over 2 connections × 32 streams, 0 errors', async () => {
    const pki = await makeTestPki();
    const leaf = await pki.issue('default/server');
    const sessions: H2ServerSession[] = [];
    const server = tls.createServer({ cert: leaf.certChainPem, key: leaf.keyPem, ALPNProtocols: ['h2'] }, (socket) => {
      sessions.push(serveH2(socket, echoHandler([])));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const dir = mkdtempSync(join(tmpdir(), 'weft-h2load-'));
    try {
      const file = join(dir, 'body.bin');
      writeFileSync(file, pattern(1024));
      const { stdout } = await run('h2load', ['-n', '3000', '-c', '2', '-m', '32', '-d', file, `https://127.0.0.1:${portOf(server)}/tls`]);
      assert.match(stdout, /Application protocol: h2/);
      assert.match(stdout, /requests: 3000 total, 3000 started, 3000 done, 3000 succeeded, 0 failed, 0 errored/);
    } finally {
      for (const s of sessions) s.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- connectH2 → node http2 server ----

interface OwnResult {
  heads: H2HeaderList[];
  body: Buffer;
  trailers: H2HeaderList | undefined;
  closeCode: number | null | undefined;
}

const get = (list: H2HeaderList, name: string): string | undefined => {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
  return undefined;
};

/** One request through our client session; the body is sent with backpressure. */
function ownRequest(session: H2ClientSession, headers: H2HeaderList, body?: Buffer, trailers?: H2HeaderList): Promise<OwnResult> {
  return new Promise((resolve, reject) => {
    const result: OwnResult = { heads: [], body: Buffer.alloc(0), trailers: undefined, closeCode: undefined };
    const chunks: Buffer[] = [];
    const stream = session.request(headers, body === undefined && trailers === undefined);
    stream.onHeaders = (h) => result.heads.push(h);
    stream.onData = (chunk) => {
      chunks.push(Buffer.from(chunk));
      stream.consume(chunk.length);
    };
    stream.onTrailers = (t) => (result.trailers = t);
    stream.onClose = (code, error) => {
      result.closeCode = code;
      result.body = Buffer.concat(chunks);
      if (code === null) resolve(result);
      else reject(error ?? new Error(`stream closed with code ${code}`));
    };
    if (body === undefined && trailers === undefined) return;
    let offset = 0;
    const pushBody = (): void => {
      const data = body ?? Buffer.alloc(0);
      while (offset < data.length) {
        const piece = data.subarray(offset, offset + 65536);
        offset += piece.length;
        const last = offset >= data.length && trailers === undefined;
        if (!stream.sendData(piece, last)) return;
      }
      if (trailers !== undefined) stream.sendTrailers(trailers);
      else if (data.length === 0) stream.end();
    };
    stream.onWritable = pushBody;
    pushBody();
  });
}

/** node http2 echo server: answers once the request ended, with its body and (if any) its trailers. */
function nodeEcho(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  const method = headers[':method'] as string;
  const out: http2.OutgoingHttpHeaders = { ':status': 200, 'x-echo-method': method, 'x-echo-path': headers[':path'] };
  for (const [k, v] of Object.entries(headers)) if (k.startsWith('x-')) out[k] = v;
  let requestTrailers: http2.IncomingHttpHeaders | undefined;
  const chunks: Buffer[] = [];
  stream.on('trailers', (t) => (requestTrailers = t));
  stream.on('error', () => {});
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => {
    if (stream.destroyed || stream.closed) return; // reset by the client
    if (method === 'HEAD') {
      stream.respond(out, { endStream: true });
      return;
    }
    if (requestTrailers === undefined) {
      stream.respond(out);
      stream.end(Buffer.concat(chunks));
      return;
    }
    const t: http2.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(requestTrailers)) if (!k.startsWith(':')) t[k] = v;
    stream.respond(out, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers(t));
    stream.end(Buffer.concat(chunks));
  });
}

describe('larger SETTINGS_MAX_FRAME_SIZE both ways (node http2 ↔ own codec)', () => {
  test('connectH2 sends frames up to the node server\'s 64 KiB maximum; serveH2 accepts node\'s 64 KiB frames when it advertises them', async () => {
    const body = pattern(3 * 1024 * 1024 + 5);
    // Our client → node server advertising 65536.
    const nodeServer = http2.createServer({ settings: { maxFrameSize: 65536, initialWindowSize: 1 << 20 } });
    let largestFrame = 0;
    nodeServer.on('stream', nodeEcho);
    await new Promise<void>((resolve) => nodeServer.listen(0, '127.0.0.1', () => resolve()));
    const socket = net.connect(portOf(nodeServer), '127.0.0.1');
    const written: Buffer[] = [];
    const write = socket.write.bind(socket) as (b: Buffer) => boolean;
    (socket as unknown as { write: (b: Buffer) => boolean }).write = (b: Buffer) => {
      written.push(b);
      return write(b);
    };
    const session = connectH2(socket);
    try {
      await waitFor(() => session.ready);
      const r = await ownRequest(session, [':method', 'POST', ':scheme', 'http', ':authority', 'x', ':path', '/big-frames'], body);
      assert.equal(digest(r.body), digest(body));
      // Walk the frames we wrote: some DATA frame must be larger than the default 16 KiB.
      const all = Buffer.concat(written).subarray(24);
      for (let p = 0; p + 9 <= all.length; p += 9 + all.readUIntBE(p, 3)) if (all[p + 3] === 0) largestFrame = Math.max(largestFrame, all.readUIntBE(p, 3));
      assert.ok(largestFrame > 16384 && largestFrame <= 65536, `largest DATA frame ${largestFrame}`);
    } finally {
      session.close();
      nodeServer.close();
    }
    // node client → our server advertising 65536.
    const sessions: H2ServerSession[] = [];
    const server = net.createServer((s) => sessions.push(serveH2(s, echoHandler([]), { maxFrameSize: 65536 })));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const client = http2.connect(`http://127.0.0.1:${portOf(server)}`);
    try {
      const r = await nodeRequest(client, { ':method': 'POST', ':path': '/big-frames' }, body);
      assert.equal(digest(r.body), digest(body));
    } finally {
      client.close();
      for (const s of sessions) s.destroy();
      server.close();
    }
  });
});

for (const transport of ['h2c', 'tls'] as const) {
  describe(`connectH2 → node http2 server (${transport})`, () => {
    let server: http2.Http2Server | http2.Http2SecureServer;
    let session: H2ClientSession;
    const resets: number[] = [];

    before(async () => {
      if (transport === 'tls') {
        const pki = await makeTestPki();
        const leaf = await pki.issue('default/server');
        server = http2.createSecureServer({ cert: leaf.certChainPem, key: leaf.keyPem, allowHTTP1: false });
      } else server = http2.createServer();
      server.on('stream', (stream, headers) => {
        stream.on('close', () => {
          if (stream.rstCode !== 0) resets.push(stream.rstCode);
        });
        nodeEcho(stream, headers);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      const socket: net.Socket | tls.TLSSocket =
        transport === 'tls'
          ? tls.connect({ port: portOf(server), host: '127.0.0.1', ALPNProtocols: ['h2'], rejectUnauthorized: false })
          : net.connect(portOf(server), '127.0.0.1');
      socket.setNoDelay(true);
      session = connectH2(socket);
      await waitFor(() => session.ready, 'the node server SETTINGS');
      if (transport === 'tls') assert.equal((socket as tls.TLSSocket).alpnProtocol, 'h2');
    });
    after(() => {
      session.close();
      server.close();
    });

    test('methods, path and HEAD', async () => {
      for (const method of ['GET', 'POST', 'PUT', 'DELETE']) {
        const r = await ownRequest(session, [':method', method, ':scheme', 'http', ':authority', 'x', ':path', `/m/${method}`], method === 'GET' ? undefined : Buffer.from(method));
        const head = r.heads.at(-1)!;
        assert.equal(get(head, ':status'), '200');
        assert.equal(get(head, 'x-echo-method'), method);
        assert.equal(get(head, 'x-echo-path'), `/m/${method}`);
        assert.equal(r.body.toString(), method === 'GET' ? '' : method);
      }
      const head = await ownRequest(session, [':method', 'HEAD', ':scheme', 'http', ':authority', 'x', ':path', '/h']);
      assert.equal(head.body.length, 0);
    });

    test('many headers and a 30 KiB head (CONTINUATION from us) arrive intact', async () => {
      const headers: H2HeaderList = [':method', 'GET', ':scheme', 'http', ':authority', 'x', ':path', '/big'];
      for (let i = 0; i < 100; i++) headers.push(`x-h${i}`, `value-${i}`);
      headers.push('x-large', 'L'.repeat(30_000));
      const r = await ownRequest(session, headers);
      const head = r.heads.at(-1)!;
      for (let i = 0; i < 100; i++) assert.equal(get(head, `x-h${i}`), `value-${i}`);
      assert.equal(get(head, 'x-large'), 'L'.repeat(30_000));
    });

    test('bodies of 0 B, 1 KiB and 5 MiB echo back byte for byte', async () => {
      for (const size of [0, 1024, 5 * 1024 * 1024]) {
        const body = pattern(size);
        const r = await ownRequest(session, [':method', 'POST', ':scheme', 'http', ':authority', 'x', ':path', `/body/${size}`], body);
        assert.equal(r.body.length, size);
        assert.equal(digest(r.body), digest(body));
      }
    });

    test('trailers both ways', async () => {
      const r = await ownRequest(session, [':method', 'POST', ':scheme', 'http', ':authority', 'x', ':path', '/t'], Buffer.from('abc'), ['x-checksum', 'abc123']);
      assert.equal(r.body.toString(), 'abc');
      assert.ok(r.trailers !== undefined);
      assert.equal(get(r.trailers, 'x-checksum'), 'abc123');
    });

    test('200 concurrent streams', async () => {
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => ownRequest(session, [':method', 'POST', ':scheme', 'http', ':authority', 'x', ':path', `/c/${i}`], Buffer.from(`body-${i}`))),
      );
      results.forEach((r, i) => assert.equal(r.body.toString(), `body-${i}`));
    });

    test('our reset mid-body reaches the node server (rstCode CANCEL) and the session goes on', async () => {
      const before = resets.length;
      const stream = session.request([':method', 'POST', ':scheme', 'http', ':authority', 'x', ':path', '/reset'], false);
      let closed: number | null | undefined;
      stream.onClose = (code) => (closed = code);
      stream.sendData(pattern(20_000), false);
      await new Promise((r) => setImmediate(r));
      stream.reset(H2_CANCEL);
      assert.equal(closed, H2_CANCEL);
      await waitFor(() => resets.length > before, 'the node server to see the reset');
      assert.equal(resets[before], H2_CANCEL);
      const r = await ownRequest(session, [':method', 'GET', ':scheme', 'http', ':authority', 'x', ':path', '/after']);
      assert.equal(get(r.heads.at(-1)!, 'x-echo-path'), '/after');
    });
  });
}
