// HTTP/2 hardening of the proxy's downstream listeners, with frames built by hand on a raw socket:
// rapid reset (CVE-2023-44487), a CONTINUATION flood, an oversized (HPACK-bomb style) header block and
// too many concurrent streams. Each abuser's connection is closed (or its streams refused) and the
// proxy keeps serving a well-behaved client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { startH2cServer, collect } from '../support/servers.ts';
import { startProxy } from '../support/proxies.ts';
import { RawH2, frame, FrameType, Flag, requestBlock, literal } from '../support/h2-frames.ts';
import type { WeftProxy } from '../../src/proxy/proxy.ts';

let app: Awaited<ReturnType<typeof startH2cServer>>;
let proxy: WeftProxy;
let port: number;
let appRequests = 0;

before(async () => {
  app = await startH2cServer((stream, headers) => {
    appRequests++;
    if (headers[':path'] === '/hang') return; // never answers: keeps streams open
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  proxy = await startProxy({
    workload: { name: 'web', namespace: 'shop' },
    listeners: { outbound: { port: 0 }, inbound: null, admin: null },
    services: [{ name: 'api', namespace: 'shop', ports: [{ port: 80, protocol: 'http2', cluster: 'api' }] }],
    clusters: [{ name: 'api', protocol: 'http2', endpoints: [{ address: '127.0.0.1', port: app.port }] }],
    limits: { maxResetsPer10s: 50, maxConcurrentStreams: 8, maxHeaderBytes: 8192 },
  });
  port = proxy.addresses.outbound!.port;
});

after(async () => {
  await proxy.close();
  await app.close();
});

/** A normal client still gets answers. */
async function stillServes(): Promise<void> {
  const s = http2.connect(`http://127.0.0.1:${port}`);
  const req = s.request({ ':path': '/', ':authority': 'api' });
  const body = await collect(req);
  s.close();
  assert.equal(body.toString(), 'ok');
}

test('rapid reset: HEADERS + RST_STREAM in a loop gets GOAWAY and the connection closed', async () => {
  const c = new RawH2(port);
  await c.ready;
  const block = requestBlock('api', 'GET', '/hang');
  for (let i = 0; i < 500 && !c.closed; i++) {
    const id = 1 + 2 * i;
    c.write(Buffer.concat([frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, block), frame(FrameType.RST_STREAM, 0, id, Buffer.from([0, 0, 0, 8]))]));
    if (i % 50 === 0) await new Promise((r) => setImmediate(r));
  }
  assert.ok(await c.waitClosed(3000), 'the abuser connection was closed');
  const goaway = c.goaway();
  assert.ok(goaway, 'a GOAWAY was sent');
  await stillServes();
});

test('CONTINUATION flood: endless CONTINUATION frames without END_HEADERS close the connection', async () => {
  const c = new RawH2(port);
  await c.ready;
  c.write(frame(FrameType.HEADERS, 0, 1, requestBlock('api')));
  const piece = literal('x-flood', 'a'.repeat(50));
  let sent = 0;
  for (let i = 0; i < 20000 && !c.closed; i++) {
    c.write(frame(FrameType.CONTINUATION, 0, 1, piece));
    sent++;
    if (i % 500 === 0) await new Promise((r) => setImmediate(r));
  }
  assert.ok(await c.waitClosed(3000), `closed after ${sent} CONTINUATION frames`);
  await stillServes();
});

test('oversized header block (HPACK bomb style): refused, never forwarded, others unaffected', async () => {
  const before = appRequests;
  const c = new RawH2(port);
  await c.ready;
  const big: Buffer[] = [];
  for (let i = 0; i < 40; i++) big.push(literal(`x-big-${i}`, 'b'.repeat(1000)));
  c.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, requestBlock('api', 'GET', '/', big)));
  await new Promise((r) => setTimeout(r, 300));
  const refused = c.closed || c.frames.some((f) => f.type === FrameType.RST_STREAM || f.type === FrameType.GOAWAY || (f.type === FrameType.HEADERS && f.stream === 1));
  assert.ok(refused, 'stream refused or connection closed');
  const headers = c.frames.find((f) => f.type === FrameType.HEADERS && f.stream === 1);
  if (headers) assert.ok(!headers.payload.includes(Buffer.from('200')), 'not answered with a 200');
  assert.equal(appRequests, before, 'never forwarded to the app');
  c.destroy();
  await stillServes();
});

test('max concurrent streams: streams beyond the advertised limit are refused', async () => {
  const c = new RawH2(port);
  await c.ready;
  await new Promise((r) => setTimeout(r, 50));
  const settings = c.frames.find((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0)!;
  let advertised = -1;
  for (let i = 0; i + 6 <= settings.payload.length; i += 6) if (settings.payload.readUInt16BE(i) === 3) advertised = settings.payload.readUInt32BE(i + 2);
  assert.equal(advertised, 8);
  const block = requestBlock('api', 'POST', '/hang');
  for (let i = 0; i < 20; i++) c.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 1 + 2 * i, block));
  await new Promise((r) => setTimeout(r, 300));
  const refused = c.frames.filter((f) => f.type === FrameType.RST_STREAM).length;
  assert.ok(c.closed || refused >= 12, `refused ${refused} streams`);
  c.destroy();
  await stillServes();
});

test('max connections per listener: connections beyond the limit are closed at once, others keep working', async () => {
  const limited = await startProxy({
    workload: { name: 'web', namespace: 'shop' },
    listeners: { outbound: { port: 0 }, inbound: null, admin: null },
    services: [{ name: 'api', namespace: 'shop', ports: [{ port: 80, protocol: 'http2', cluster: 'api' }] }],
    clusters: [{ name: 'api', protocol: 'http2', endpoints: [{ address: '127.0.0.1', port: app.port }] }],
    limits: { maxConnections: 5 },
  });
  try {
    const lport = limited.addresses.outbound!.port;
    const held = [];
    for (let i = 0; i < 5; i++) {
      const c = new RawH2(lport);
      await c.ready;
      held.push(c);
    }
    await new Promise((r) => setTimeout(r, 100));
    const extra = new RawH2(lport);
    assert.ok(await extra.waitClosed(2000), 'the 6th connection was closed');
    assert.ok(held.every((c) => !c.closed), 'the first five stay open');
    held[0]!.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const again = http2.connect(`http://127.0.0.1:${lport}`);
    const body = await collect(again.request({ ':path': '/', ':authority': 'api' }));
    again.close();
    assert.equal(body.toString(), 'ok');
    for (const c of held) c.destroy();
  } finally {
    await limited.close();
  }
});
