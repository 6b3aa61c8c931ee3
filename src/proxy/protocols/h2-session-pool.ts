// Client HTTP/2 sessions on weft's own codec (protocols/h2/), pooled per key — a peer proxy over mTLS
// (endpoint + expected SPIFFE ID) or an h2c app (address:port): many downstream requests become
// streams on one connection, so a busy pair of proxies pays for one handshake. A session is handed
// out only once the peer's SETTINGS arrived (a peer that closes right after the TLS 1.3 handshake —
// it refused our identity — is a connect failure, never a hung request); a second session opens only
// when the first has no stream left (the peer's SETTINGS_MAX_CONCURRENT_STREAMS or our
// maxStreamsPerConnection). GOAWAY or close takes a session out of the pool (its streams finish on
// it); idle sessions are closed, and silent ones (streams open, nothing read) probed with a PING and
// destroyed when it goes unanswered, by one sweep on the shared coarse timer, never a timer per session.
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { sharedTimer, type Deadline } from '../../core/coarse-timer.ts';
import { ProxyError } from '../errors.ts';
import type { H2ClientSession, H2SessionOptions } from './h2/api.ts';

// The codec is loaded with the first session (a proxy that never opens one does not load it).
let codec: Promise<typeof import('./h2/session.ts')> | null = null;
const loadCodec = (): Promise<typeof import('./h2/session.ts')> => (codec ??= import('./h2/session.ts'));

/** Starts a client session on a connected socket (the codec's connectH2). */
export type ConnectSession = (socket: Duplex, options?: H2SessionOptions) => H2ClientSession;

export interface H2SessionPoolOptions {
  /** Our limit of concurrent streams per session (cluster maxStreamsPerConnection); the peer's may be lower. */
  maxStreams: number;
  /** Close a session after this long without streams. */
  idleTimeoutMs: number;
  /**
   * Liveness: a session with open streams that read nothing for this long gets a PING; no answer
   * within as long again and it is destroyed (a black-holed connection). Default min(10 s, idleTimeoutMs).
   */
  livenessMs?: number;
}

/** One pooled session and what the pool needs to know about it. */
class PooledSession {
  session: H2ClientSession | null = null;
  connecting: Promise<H2ClientSession> | null = null;
  /** Out of the pool (GOAWAY, closed, idle, pool closed): never handed out again. */
  gone = false;
  /** Acquirers waiting for this session while it connects (at most maxStreams). */
  waiters = 0;
  /** Streams promised to waiters as the session became ready and not opened yet (cleared a turn later). */
  claims = 0;
  /** activeStreams when the first of those claims was made. */
  claimBase = 0;
  /** When the sweep sent a liveness PING that has not been answered yet (0: none). */
  pingSentAt = 0;
  constructor(
    readonly key: string,
    readonly bucket: PooledSession[],
    readonly maxStreams: number,
    readonly idleTimeoutMs: number,
    readonly livenessMs: number,
  ) {}

  /** True when one more stream may be opened on this (ready) session. */
  get hasRoom(): boolean {
    const s = this.session!;
    if (s.draining || s.closed) return false;
    const limit = s.peerMaxConcurrentStreams < this.maxStreams ? s.peerMaxConcurrentStreams : this.maxStreams;
    // Claimed streams not opened yet count too (claimBase + claims once every waiter has opened its stream).
    const used = this.claims === 0 ? s.activeStreams : Math.max(s.activeStreams, this.claimBase + this.claims);
    return used < limit;
  }
}

/** The settings we use as a client: streams are ours to open, so the peer's stream limit is what matters. */
// Per-stream windows do the back-pressure (256 KiB: what a stream whose reader stalls may hold); the
// connection window is credited on delivery and only has to cover many streams in flight at once.
const CLIENT_SESSION_OPTIONS: H2SessionOptions = { initialWindowSize: 256 << 10, connectionWindowSize: 16 << 20 };

/** Default liveness probe period (see H2SessionPoolOptions.livenessMs). */
const DEFAULT_LIVENESS_MS = 10_000;

function clearClaims(pooled: PooledSession): void {
  pooled.claims = 0;
}

export class H2SessionPool {
  readonly #buckets = new Map<string, PooledSession[]>();
  /** Every ready session, for the idle sweep. */
  readonly #ready = new Set<PooledSession>();
  #sweep: Deadline | null = null;
  #sweepMs = 0;
  #closed = false;
  readonly #options: H2SessionOptions;
  readonly #connectSession: ConnectSession | undefined;

  /** `connectSession` replaces the codec's connectH2 (tests). */
  constructor(options: H2SessionOptions = CLIENT_SESSION_OPTIONS, connectSession?: ConnectSession) {
    this.#options = options;
    this.#connectSession = connectSession;
  }

  /**
   * A ready session for `key` with room for one more stream, opening one with `connect` (which
   * resolves with a connected, handshaken socket) when none has room. Synchronous when a ready
   * session has room (the common case); the promise rejects with a ProxyError (a connect failure).
   */
  acquire(key: string, options: H2SessionPoolOptions, connect: () => Promise<Duplex>): H2ClientSession | Promise<H2ClientSession> {
    if (this.#closed) throw new ProxyError('DRAINING', 'the proxy is shutting down: no new connections to upstreams');
    let bucket = this.#buckets.get(key);
    if (bucket !== undefined) {
      let pending: PooledSession | null = null;
      for (let i = 0; i < bucket.length; i++) {
        const p = bucket[i]!;
        if (p.session !== null) {
          if (p.hasRoom) return p.session;
        } else if (pending === null && p.waiters < p.maxStreams) pending = p;
      }
      // A session on its way with room for one more waiter: wait for it rather than open another.
      if (pending !== null) return this.#wait(pending, options, connect);
    } else {
      bucket = [];
      this.#buckets.set(key, bucket);
    }
    const pooled = new PooledSession(key, bucket, options.maxStreams, options.idleTimeoutMs, options.livenessMs ?? Math.min(DEFAULT_LIVENESS_MS, options.idleTimeoutMs));
    bucket.push(pooled);
    const codec: Promise<ConnectSession> = this.#connectSession !== undefined ? Promise.resolve(this.#connectSession) : loadCodec().then((m) => m.connectH2);
    pooled.connecting = Promise.all([connect(), codec]).then(
      ([socket, connectH2]) => this.#handshake(pooled, socket, connectH2),
      (error: unknown) => {
        this.#remove(pooled);
        throw error instanceof ProxyError ? error : new ProxyError('CONNECT_FAILED', `cannot connect to ${key}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
      },
    );
    return this.#wait(pooled, options, connect);
  }

  /**
   * Waits for a connecting session. Once it is ready, each waiter claims one of its streams; the
   * waiters beyond what it allows (the peer's SETTINGS_MAX_CONCURRENT_STREAMS is known only now)
   * acquire again — another session — instead of failing with a refused stream.
   */
  #wait(pooled: PooledSession, options: H2SessionPoolOptions, connect: () => Promise<Duplex>): Promise<H2ClientSession> {
    pooled.waiters++;
    return pooled.connecting!.then((session) => {
      if (!pooled.gone && pooled.hasRoom) {
        // The claim holds until the waiter's request() (in this same microtask run) counts the stream.
        if (pooled.claims++ === 0) {
          pooled.claimBase = session.activeStreams;
          setImmediate(clearClaims, pooled);
        }
        return session;
      }
      return this.acquire(pooled.key, options, connect);
    });
  }

  /** Starts HTTP/2 on `socket`; resolves once the peer's SETTINGS arrived. */
  #handshake(pooled: PooledSession, socket: Duplex, connectH2: ConnectSession): Promise<H2ClientSession> {
    return new Promise((resolve, reject) => {
      let session: H2ClientSession;
      try {
        session = connectH2(socket, this.#options);
      } catch (e) {
        socket.destroy();
        this.#remove(pooled);
        reject(new ProxyError('CONNECT_FAILED', `cannot start HTTP/2 with ${pooled.key}: ${(e as Error).message}`, { cause: e }));
        return;
      }
      session.onReady = () => {
        pooled.session = session;
        pooled.connecting = null;
        if (this.#closed || pooled.gone) {
          session.close();
        } else {
          this.#ready.add(pooled);
          this.#armSweep(pooled.idleTimeoutMs < pooled.livenessMs ? pooled.idleTimeoutMs : pooled.livenessMs);
        }
        resolve(session);
      };
      session.onGoaway = () => this.#remove(pooled);
      session.onClose = (error) => {
        this.#remove(pooled);
        if (pooled.session === null) {
          // Closed before the peer's SETTINGS: the peer refused us after the TLS handshake (our
          // identity is not in its trust bundle or allowed peers), or it does not speak HTTP/2.
          const detail = error === undefined ? '' : ` (${(error as { code?: string }).code ?? error.message})`;
          reject(
            new ProxyError('TLS_HANDSHAKE_FAILED', `${pooled.key} closed the connection right after the TLS handshake${detail}: it refused our identity (trust bundle or allowed peers) or does not speak HTTP/2`, {
              cause: error,
            }),
          );
        }
      };
    });
  }

  #remove(pooled: PooledSession): void {
    if (pooled.gone) return;
    pooled.gone = true;
    this.#ready.delete(pooled);
    const bucket = pooled.bucket;
    const i = bucket.indexOf(pooled);
    if (i >= 0) bucket.splice(i, 1);
    if (bucket.length === 0 && this.#buckets.get(pooled.key) === bucket) this.#buckets.delete(pooled.key);
  }

  #armSweep(idleTimeoutMs: number): void {
    // Sweep often enough for the shortest idle timeout in the pool (at most every 5 s, at least every 50 ms).
    const period = Math.max(50, Math.min(5000, Math.floor(idleTimeoutMs / 2)));
    if (this.#sweep !== null) {
      if (period >= this.#sweepMs) return;
      this.#sweep.cancel();
    }
    this.#sweepMs = period;
    this.#sweep = sharedTimer.deadline(period, this.#sweepIdle);
  }

  readonly #sweepIdle = (): void => {
    this.#sweep = null;
    const now = performance.now();
    let shortest = Infinity;
    for (const pooled of this.#ready) {
      const s = pooled.session!;
      if (s.activeStreams === 0 && now - s.lastActive >= pooled.idleTimeoutMs) {
        this.#remove(pooled);
        s.close();
        continue;
      }
      // Liveness is judged on reads (our own writes keep lastActive fresh on a dead connection).
      if (pooled.pingSentAt !== 0) {
        if (s.lastRead >= pooled.pingSentAt) pooled.pingSentAt = 0;
        else if (now - pooled.pingSentAt >= pooled.livenessMs) {
          this.#remove(pooled);
          s.destroy(new ProxyError('UPSTREAM_RESET', `${pooled.key} did not answer a PING within ${pooled.livenessMs} ms (connection silent): closed`));
          continue;
        }
      } else if (s.activeStreams > 0 && now - s.lastRead >= pooled.livenessMs) {
        pooled.pingSentAt = now;
        s.ping();
      }
      const period = pooled.idleTimeoutMs < pooled.livenessMs ? pooled.idleTimeoutMs : pooled.livenessMs;
      if (period < shortest) shortest = period;
    }
    if (this.#ready.size > 0 && !this.#closed) this.#armSweep(shortest);
  };

  /** Sessions currently pooled, ready or connecting (for /metrics and tests). */
  get size(): number {
    let n = 0;
    for (const bucket of this.#buckets.values()) n += bucket.length;
    return n;
  }

  /** GOAWAY every session (in-flight streams finish) and refuse new ones. */
  close(): void {
    this.#shutdown((session) => session.close());
  }

  /** Destroys every session at once and refuses new ones. */
  destroy(): void {
    this.#shutdown((session) => session.destroy());
  }

  #shutdown(end: (session: H2ClientSession) => void): void {
    this.#closed = true;
    this.#sweep?.cancel();
    this.#sweep = null;
    for (const bucket of [...this.#buckets.values()]) {
      for (const p of [...bucket]) {
        this.#remove(p);
        if (p.session) end(p.session);
      }
    }
  }
}
