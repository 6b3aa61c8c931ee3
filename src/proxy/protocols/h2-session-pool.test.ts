// H2SessionPool with fake sessions: handed out only after the peer's SETTINGS (waiters beyond what the
// session allows acquire again), a close before them is
// a TLS_HANDSHAKE_FAILED connect failure, a second session only when the first is full, GOAWAY and
// close take a session out, and a session out of stream ids is retired by refusedByCapacity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, type Duplex } from 'node:stream';
import { H2SessionPool } from './h2-session-pool.ts';
import { refusedByCapacity } from './h2-bridge.ts';
import type { H2ClientSession, H2HeaderList, H2Stream } from './h2/api.ts';
import { ProxyError } from '../errors.ts';

class FakeSession implements H2ClientSession {
  ready = false;
  activeStreams = 0;
  draining = false;
  closed = false;
  lastActive = performance.now();
  lastRead = this.lastActive;
  pings = 0;
  ping(): void {
    this.pings++;
  }
  peerMaxConcurrentStreams = Infinity;
  onReady: (() => void) | null = null;
  onGoaway: ((code: number, lastStreamId: number) => void) | null = null;
  onClose: ((error: Error | undefined) => void) | null = null;
  closeCalls = 0;
  constructor(readonly socket: Duplex) {}
  settings(maxStreams = Infinity): void {
    this.ready = true;
    this.peerMaxConcurrentStreams = maxStreams;
    this.onReady?.();
  }
  goaway(): void {
    this.draining = true;
    this.onGoaway?.(0, 0);
  }
  close(): void {
    this.closeCalls++;
    this.draining = true;
  }
  destroy(): void {
    this.closed = true;
    this.onClose?.(undefined);
  }
  request(_headers: H2HeaderList, _endStream: boolean): H2Stream {
    throw Object.assign(new Error('exhausted'), { code: 'H2_STREAMS_EXHAUSTED' });
  }
}

function fakePool(): { pool: H2SessionPool; sessions: FakeSession[] } {
  const sessions: FakeSession[] = [];
  const pool = new H2SessionPool({}, (socket) => {
    const s = new FakeSession(socket);
    sessions.push(s);
    return s;
  });
  return { pool, sessions };
}

const OPTIONS = { maxStreams: 2, idleTimeoutMs: 60_000 };
const connect = (): Promise<Duplex> => Promise.resolve(new PassThrough());
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
async function waitUntil(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await tick();
  assert.ok(cond());
}

test('a session is handed out only after the peer SETTINGS; then synchronously while it has room', async () => {
  const { pool, sessions } = fakePool();
  const first = pool.acquire('peer', OPTIONS, connect);
  assert.ok(first instanceof Promise);
  let settled = false;
  void first.then(() => (settled = true));
  await tick();
  assert.equal(sessions.length, 1);
  assert.equal(settled, false, 'not ready before SETTINGS');
  const second = pool.acquire('peer', OPTIONS, connect);
  assert.ok(second instanceof Promise);
  await tick();
  assert.equal(sessions.length, 1, 'waiters share the session being opened');
  sessions[0]!.settings(100);
  assert.strictEqual(await first, sessions[0]);
  assert.strictEqual(await second, sessions[0]);
  // The two waiters' claims (fake streams are never opened) are cleared a turn later.
  await tick();
  assert.strictEqual(pool.acquire('peer', OPTIONS, connect), sessions[0], 'ready: handed out at once');
  assert.equal(pool.size, 1);
});

test('waiters beyond the stream limit the peer announces acquire again (another session) instead of being refused', async () => {
  const { pool, sessions } = fakePool();
  const waiters = [0, 1].map(() => pool.acquire('peer', OPTIONS, connect) as Promise<H2ClientSession>);
  await tick();
  assert.equal(sessions.length, 1, 'waiters share the session being opened (our limit is 2)');
  sessions[0]!.settings(1);
  assert.strictEqual(await waiters[0], sessions[0], 'the first waiter claims the one stream');
  await waitUntil(() => sessions.length === 2);
  sessions[1]!.settings(100);
  assert.strictEqual(await waiters[1], sessions[1], 'the second goes to a new session');
});

test('a second session opens only when the first is full (our limit or the peer SETTINGS_MAX_CONCURRENT_STREAMS)', async () => {
  const { pool, sessions } = fakePool();
  const p = pool.acquire('peer', OPTIONS, connect) as Promise<H2ClientSession>;
  await tick();
  sessions[0]!.settings(1);
  await p;
  sessions[0]!.activeStreams = 1; // the peer allows 1
  const second = pool.acquire('peer', OPTIONS, connect);
  assert.ok(second instanceof Promise);
  await tick();
  assert.equal(sessions.length, 2);
  sessions[1]!.settings(100);
  assert.strictEqual(await second, sessions[1]);
  sessions[0]!.activeStreams = 0;
  assert.strictEqual(pool.acquire('peer', OPTIONS, connect), sessions[0], 'the first has room again');
  assert.equal(pool.size, 2);
});

test('a peer that closes before its SETTINGS (identity refused after TLS) is a TLS_HANDSHAKE_FAILED connect failure', async () => {
  const { pool, sessions } = fakePool();
  const p = pool.acquire('peer', OPTIONS, connect) as Promise<H2ClientSession>;
  await tick();
  sessions[0]!.destroy();
  await assert.rejects(p, (e: unknown) => e instanceof ProxyError && e.code === 'TLS_HANDSHAKE_FAILED');
  assert.equal(pool.size, 0, 'nothing left in the pool');
});

test('a failed connect rejects with a ProxyError and leaves nothing behind', async () => {
  const { pool } = fakePool();
  const p = pool.acquire('peer', OPTIONS, () => Promise.reject(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))) as Promise<H2ClientSession>;
  await assert.rejects(p, (e: unknown) => e instanceof ProxyError && e.code === 'CONNECT_FAILED');
  assert.equal(pool.size, 0);
});

test('GOAWAY and close take a session out of the pool: the next acquire opens a new one', async () => {
  const { pool, sessions } = fakePool();
  const p = pool.acquire('peer', OPTIONS, connect) as Promise<H2ClientSession>;
  await tick();
  sessions[0]!.settings();
  await p;
  sessions[0]!.goaway();
  assert.equal(pool.size, 0);
  const next = pool.acquire('peer', OPTIONS, connect);
  assert.ok(next instanceof Promise, 'a draining session is never handed out');
  await tick();
  sessions[1]!.settings();
  await next;
  sessions[1]!.destroy();
  assert.equal(pool.size, 0);
});

test('close() refuses new sessions and GOAWAYs the pooled ones', async () => {
  const { pool, sessions } = fakePool();
  const p = pool.acquire('peer', OPTIONS, connect) as Promise<H2ClientSession>;
  await tick();
  sessions[0]!.settings();
  await p;
  pool.close();
  assert.equal(sessions[0]!.closeCalls, 1);
  assert.throws(() => pool.acquire('peer', OPTIONS, connect), (e: unknown) => e instanceof ProxyError && e.code === 'DRAINING');
});

test('refusedByCapacity: a session out of stream ids (not at the peer limit) is closed so it leaves its pool', () => {
  const s = new FakeSession(new PassThrough());
  s.settings(100);
  s.activeStreams = 3;
  const exhausted = Object.assign(new Error('exhausted'), { code: 'H2_STREAMS_EXHAUSTED' });
  assert.equal(refusedByCapacity(s, exhausted), true);
  assert.equal(s.closeCalls, 1, 'out of ids: retired');
  const full = new FakeSession(new PassThrough());
  full.settings(3);
  full.activeStreams = 3;
  assert.equal(refusedByCapacity(full, exhausted), true);
  assert.equal(full.closeCalls, 0, 'merely full: kept');
  assert.equal(refusedByCapacity(full, new Error('something else')), false);
});

test('liveness: a session with open streams that reads nothing gets a PING; answered it stays, unanswered it is destroyed and leaves the pool', async () => {
  const { pool, sessions } = fakePool();
  const options = { maxStreams: 10, idleTimeoutMs: 60_000, livenessMs: 100 };
  const p = pool.acquire('peer', options, connect) as Promise<H2ClientSession>;
  await tick();
  sessions[0]!.settings(100);
  const s = await p;
  const fake = sessions[0]!;
  fake.activeStreams = 1;
  const until = async (cond: () => boolean): Promise<void> => {
    for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(cond());
  };
  await until(() => fake.pings === 1);
  fake.lastRead = performance.now(); // the ACK (a read)
  await until(() => fake.pings === 2); // silent again: probed again
  assert.equal(fake.closed, false, 'an answered PING keeps the session');
  await until(() => fake.closed); // no answer this time
  assert.equal(pool.size, 0, 'a dead session leaves the pool');
  const next = pool.acquire('peer', options, connect);
  assert.ok(next instanceof Promise && next !== p, 'the next acquire opens a new session');
  await tick();
  assert.equal(sessions.length, 2);
  void next.catch(() => {});
  assert.equal(s, fake);
  pool.destroy();
});
