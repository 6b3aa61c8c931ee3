// Test helpers for the HTTP/1 engine (used by its unit tests, the hardening integration test and the
// micro-benchmarks): a one-hop forwarding proxy built from the engine, and raw-socket exchanges.
import net from 'node:net';
import { Http1Server, type Http1ServerOptions } from './server.ts';
import { Http1Pool, type Http1PoolOptions } from './pool.ts';
import { compileForward, forward, type ForwardSpec } from './forward.ts';

export interface TestProxy {
  readonly server: Http1Server;
  readonly pool: Http1Pool;
  readonly port: number;
  close(): void;
}

/** Starts an engine proxy on 127.0.0.1:0 forwarding every request to 127.0.0.1:`upstreamPort`. */
export async function startForwardProxy(
  upstreamPort: number,
  options: { server?: Partial<Http1ServerOptions>; pool?: Partial<Http1PoolOptions>; forward?: ForwardSpec; extraHeaders?: string } = {},
): Promise<TestProxy> {
  const pool = new Http1Pool({ connect: () => net.connect(upstreamPort, '127.0.0.1'), name: `127.0.0.1:${upstreamPort}`, ...options.pool });
  const plan = compileForward(options.forward);
  const extra = options.extraHeaders ?? '';
  const server = new Http1Server({
    ...options.server,
    onRequest: options.server?.onRequest ?? ((conn) => forward(conn, pool, plan, extra)),
  });
  const addr = await server.listen(0);
  return {
    server,
    pool,
    port: addr.port,
    close() {
      server.close();
      pool.close();
    },
  };
}

/** Sends raw bytes on a new connection and collects everything until the peer closes (or `timeoutMs`). */
export function rawExchange(
  port: number,
  payload: string | Buffer | Array<string | Buffer>,
  options: { timeoutMs?: number; endAfterWrite?: boolean; gapMs?: number } = {},
): Promise<{ data: string; closed: boolean; reset: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    let reset = false;
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(parts).toString('latin1'), closed, reset });
    };
    const timer = setTimeout(() => finish(false), options.timeoutMs ?? 2000);
    socket.on('data', (d) => parts.push(d));
    socket.on('error', () => {
      reset = true;
    });
    socket.on('close', () => finish(true));
    socket.on('connect', async () => {
      const list = Array.isArray(payload) ? payload : [payload];
      for (const p of list) {
        if (socket.destroyed) break;
        socket.write(p);
        if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
      }
      if (options.endAfterWrite) socket.end();
    });
  });
}
