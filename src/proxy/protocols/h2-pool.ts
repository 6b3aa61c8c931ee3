// Client HTTP/2 sessions, pooled per key (a peer proxy over mTLS, or an h2c app on loopback): many
// downstream requests become streams on one connection, so a busy pair of proxies pays for one
// handshake. A second session opens only when the first reaches `maxStreams`; sessions that go away
// (GOAWAY, error, idle timeout) leave the pool and in-flight streams finish on them.
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { ProxyError } from '../errors.ts';

interface Entry {
  session: http2.ClientHttp2Session | undefined;
  connecting: Promise<http2.ClientHttp2Session> | undefined;
  active: number;
  dead: boolean;
}

export interface H2PoolOptions {
  /** Max concurrent streams per session before another session is opened. */
  maxStreams: number;
  /** Close a session after this long without streams. */
  idleTimeoutMs: number;
}

const noop = (): void => {};

/** HTTP/2 settings we send as a client. */
const CLIENT_SETTINGS: http2.Settings = { enablePush: false, initialWindowSize: 1 << 20 };

export class H2Pool {
  #entries = new Map<string, Entry[]>();
  /** The pool entry of each live session, for O(1) stream accounting. */
  #bySession = new WeakMap<http2.ClientHttp2Session, Entry>();
  #closed = false;

  /**
   * A session for `key`, opening one with `connect` (which resolves with a connected, handshaken
   * socket) when none has room. Synchronous when a ready session exists (the common case).
   */
  acquire(key: string, options: H2PoolOptions, connect: () => Promise<Duplex>): http2.ClientHttp2Session | Promise<http2.ClientHttp2Session> {
    let list = this.#entries.get(key);
    if (list !== undefined) {
      for (let i = 0; i < list.length; i++) {
        const e = list[i]!;
        if (e.dead) continue;
        if (e.session !== undefined) {
          if (e.active < options.maxStreams) return e.session;
        } else if (e.connecting !== undefined) {
          return e.connecting;
        }
      }
    } else {
      list = [];
      this.#entries.set(key, list);
    }
    const entry: Entry = { session: undefined, connecting: undefined, active: 0, dead: false };
    const bucket = list;
    bucket.push(entry);
    const remove = () => {
      entry.dead = true;
      const i = bucket.indexOf(entry);
      if (i >= 0) bucket.splice(i, 1);
      if (bucket.length === 0 && this.#entries.get(key) === bucket) this.#entries.delete(key);
    };
    entry.connecting = connect().then(
      (socket) =>
        new Promise<http2.ClientHttp2Session>((resolve, reject) => {
          const session = http2.connect('http://weft.peer', {
            createConnection: () => socket,
            settings: CLIENT_SETTINGS,
            maxSessionMemory: 64,
            peerMaxConcurrentStreams: options.maxStreams,
          });
          // Ready only once the peer's SETTINGS arrive: a peer that refuses us after the TLS 1.3
          // handshake (identity not allowed) closes instead, and that must be a connect failure.
          const early = (e?: Error) => {
            remove();
            reject(
              new ProxyError(
                'TLS_HANDSHAKE_FAILED',
                `the peer closed the connection right after the TLS handshake${e ? ` (${(e as NodeJS.ErrnoException).code ?? e.message})` : ''}: it refused our identity (trust bundle or allowed peers)`,
                { cause: e },
              ),
            );
          };
          session.setMaxListeners(0);
          session.once('error', early);
          session.once('close', early);
          session.once('remoteSettings', () => {
            session.removeListener('error', early);
            session.removeListener('close', early);
            session.on('error', () => remove());
            session.on('goaway', () => remove());
            session.on('close', () => remove());
            session.setTimeout(options.idleTimeoutMs, () => {
              if (entry.active === 0) {
                remove();
                session.close();
              }
            });
            entry.session = session;
            entry.connecting = undefined;
            this.#bySession.set(session, entry);
            if (this.#closed) session.close();
            resolve(session);
          });
        }),
      (error: unknown) => {
        remove();
        throw error;
      },
    );
    return entry.connecting;
  }

  /**
   * Counts a stream opened on `session` (for the per-session stream limit). Returns the function to
   * call once when that stream closed.
   */
  track(session: http2.ClientHttp2Session): () => void {
    const entry = this.#bySession.get(session);
    if (entry === undefined) return noop;
    entry.active++;
    return () => {
      entry.active--;
    };
  }

  /** Sessions currently pooled (for /metrics and tests). */
  get size(): number {
    let n = 0;
    for (const list of this.#entries.values()) n += list.length;
    return n;
  }

  /** GOAWAY every session (in-flight streams finish) and refuse new ones. */
  close(): void {
    this.#closed = true;
    for (const list of this.#entries.values()) for (const e of list) e.session?.close();
    this.#entries.clear();
  }

  destroy(): void {
    this.#closed = true;
    for (const list of this.#entries.values()) for (const e of list) e.session?.destroy();
    this.#entries.clear();
  }
}
