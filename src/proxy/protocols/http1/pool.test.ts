import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import http from 'node:http';
import { Http1Pool, type Http1UpstreamConn } from './pool.ts';
import type { UpstreamError } from './errors.ts';
import { startForwardProxy } from './test-helpers.ts';
import { CoarseTimer } from '../../../core/coarse-timer.ts';
import { waitFor } from '../../../../test/support/wait.ts';

const closers: Array<() => void> = [];
after(() => {
  for (const c of closers) c();
});

function acquire(pool: Http1Pool): Promise<{ error: UpstreamError | null; conn: Http1UpstreamConn | null }> {
  return new Promise((resolve) => pool.acquire((error, conn) => resolve({ error, conn })));
}

test('connect timeout: a TLS handshake that never completes fails with UPSTREAM_CONNECT_TIMEOUT', async () => {
  const silent = net.createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const sockets: net.Socket[] = [];
  silent.on('connection', (s) => sockets.push(s));
  closers.push(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const port = (silent.address() as net.AddressInfo).port;
  const timer = new CoarseTimer({ resolutionMs: 10 });
  closers.push(() => timer.close());
  const pool = new Http1Pool({ connect: () => tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }), connectTimeoutMs: 100, timer, name: 'silent' });
  const started = Date.now();
  const r = await acquire(pool);
  assert.equal(r.conn, null);
  assert.equal(r.error?.code, 'UPSTREAM_CONNECT_TIMEOUT');
  assert.equal(r.error?.retryable, true);
  assert.ok(Date.now() - started < 1000);
  assert.equal(pool.size, 0);
});

test('verify hook rejecting the peer gives UPSTREAM_IDENTITY_REJECTED and closes the connection', async () => {
  const srv = net.createServer((s) => s.on('error', () => {}));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  closers.push(() => srv.close());
  const port = (srv.address() as net.AddressInfo).port;
  const pool = new Http1Pool({ connect: () => net.connect(port, '127.0.0.1'), verify: () => new Error('peer is spiffe://x/ns/a/sa/b, expected spiffe://x/ns/a/sa/c'), name: 'peer' });
  const r = await acquire(pool);
  assert.equal(r.error?.code, 'UPSTREAM_IDENTITY_REJECTED');
  assert.match(r.error!.message, /expected spiffe/);
  assert.equal(pool.size, 0);
});

test('pool limits: waiters are served on release; beyond maxPending → UPSTREAM_POOL_EXHAUSTED (503 through forward)', async () => {
  const srv = net.createServer((s) => s.on('error', () => {}));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  closers.push(() => srv.close());
  const port = (srv.address() as net.AddressInfo).port;
  const pool = new Http1Pool({ connect: () => net.connect(port, '127.0.0.1'), maxConnections: 1, maxPending: 1 });
  closers.push(() => pool.close());
  const first = await acquire(pool);
  assert.ok(first.conn);
  const waiting = acquire(pool);
  const third = await acquire(pool);
  assert.equal(third.error?.code, 'UPSTREAM_POOL_EXHAUSTED');
  first.conn!.release();
  const second = await waiting;
  assert.equal(second.conn, first.conn, 'the released connection is handed to the waiter');
  second.conn!.abort();

  // Through the forwarding path: one slow upstream connection, no queue → the second request gets 503.
  // The upstream holds its response until released, so the first request surely occupies the only connection.
  const held: http.ServerResponse[] = [];
  const slow = http.createServer((_req, res) => held.push(res));
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  closers.push(() => {
    slow.closeAllConnections();
    slow.close();
  });
  const proxy = await startForwardProxy((slow.address() as net.AddressInfo).port, { pool: { maxConnections: 1, maxPending: 0 } });
  closers.push(() => proxy.close());
  const get = () =>
    new Promise<{ status: number; weftError: string }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: proxy.port, path: '/', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, weftError: String(res.headers['weft-error'] ?? '') }));
      }).on('error', reject);
    });
  const a = get();
  await waitFor(() => proxy.pool.size === 1 && held.length === 1, 'the first request to hold the only upstream connection');
  const b = await get();
  assert.equal(b.status, 503);
  assert.match(b.weftError, /^UPSTREAM_POOL_EXHAUSTED; /);
  held[0]!.end('slow');
  assert.equal((await a).status, 200);
});

test('idle connections are closed after the idle timeout, and a server-closed idle connection is not reused', async () => {
  let accepted = 0;
  const upstreamSockets: net.Socket[] = [];
  const srv = http.createServer((_req, res) => res.end('ok'));
  srv.on('connection', (s) => {
    accepted++;
    upstreamSockets.push(s);
  });
  srv.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  closers.push(() => {
    srv.closeAllConnections();
    srv.close();
  });
  const timer = new CoarseTimer({ resolutionMs: 10 });
  closers.push(() => timer.close());
  const proxy = await startForwardProxy((srv.address() as net.AddressInfo).port, { pool: { idleTimeoutMs: 150, timer } });
  closers.push(() => proxy.close());
  const get = () =>
    new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: proxy.port, path: '/', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      }).on('error', reject);
    });
  assert.equal(await get(), 200);
  assert.equal(proxy.pool.idleCount, 1);
  // The upstream closes its side of the idle connection: the pool drops it, the next request reconnects.
  upstreamSockets[0]!.destroy();
  await waitFor(() => proxy.pool.idleCount === 0, 'the pool to drop the server-closed idle connection');
  assert.equal(proxy.pool.size, 0);
  assert.equal(await get(), 200);
  assert.equal(accepted, 2, 'reconnected instead of reusing the closed connection');
  assert.equal(proxy.pool.idleCount, 1);
  // Nobody closes this one: only the idle sweep (150 ms) can.
  await waitFor(() => proxy.pool.size === 0, 'the idle sweep to close the idle connection');
  assert.equal(proxy.pool.idleCount, 0, 'idle sweep closed it');
  await waitFor(() => upstreamSockets[1]!.destroyed || upstreamSockets[1]!.readableEnded, 'the upstream to see the close');
});

test('a connection whose response ended while its reader had paused it goes back to the pool reading again', async () => {
  const srv = http.createServer((req, res) => res.end(`answer to ${req.url}`));
  srv.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  closers.push(() => srv.close());
  const port = (srv.address() as net.AddressInfo).port;
  const pool = new Http1Pool({ connect: () => net.connect(port, '127.0.0.1'), maxConnections: 1 });
  closers.push(() => pool.close());
  const get = (conn: Http1UpstreamConn, path: string, pauseOnHead: boolean) =>
    new Promise<string>((resolve, reject) => {
      let body = '';
      conn.start('GET', {
        raw: false,
        onInformational: () => {},
        onResponseHead: () => {
          // downstream back-pressure: the reader pauses and never resumes before the response ends
          if (pauseOnHead) conn.pauseResponse();
        },
        onResponseBytes: () => {},
        onBodyData: (b: Buffer, s: number, e: number) => {
          body += b.toString('latin1', s, e);
        },
        onTrailers: () => {},
        onResponseEnd: () => resolve(body),
        onUpgrade: () => reject(new Error('unexpected upgrade')),
        onUpstreamError: (e: UpstreamError) => reject(e),
        onUpstreamDrain: () => {},
      });
      conn.write(Buffer.from(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`));
      conn.endRequest();
    });
  const first = await acquire(pool);
  assert.equal(await get(first.conn!, '/one', true), 'answer to /one');
  const second = await acquire(pool);
  assert.equal(second.conn, first.conn, 'the pooled connection is reused');
  assert.equal(await get(second.conn!, '/two', false), 'answer to /two');
});
