// A small standalone identity server (gRPC identity service over TLS + admin HTTP on 127.0.0.1) used by
// tests, the benchmark and the CLI until the full control plane composes the same pieces.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { IdentityAuthority, type IdentityAuthorityOptions } from './authority.ts';
import { FileCaStateStore, MemoryCaStateStore } from './state-store.ts';
import { addIdentityService, identityServerCredentials } from './service.ts';
import { identityAdminRoutes, type AdminHandler } from './admin.ts';

export interface IdentityServerOptions extends Partial<Omit<IdentityAuthorityOptions, 'store'>> {
  /** Persist the CA here (file mode 0600). Without it the CA lives in memory. */
  stateDir?: string;
  /** gRPC port (0 = any). */
  port?: number;
  /** Admin HTTP port (0 = any); `false` for none. */
  adminPort?: number | false;
  host?: string;
  /** Run tick() on an interval (default true). */
  autoTick?: boolean;
}

export interface IdentityServer {
  readonly authority: IdentityAuthority;
  /** host:port of the gRPC identity service. */
  readonly target: string;
  readonly port: number;
  readonly adminUrl: string | undefined;
  close(): Promise<void>;
}

/** Mounts admin route handlers on a node:http server (JSON in, JSON or text out). */
export function serveAdmin(routes: Record<string, AdminHandler>): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const handler = routes[`${req.method} ${url.pathname}`];
    if (!handler) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${url.pathname}` } }));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: unknown;
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      } catch {
        body = undefined;
      }
      handler({ body, query: url.searchParams }).then(
        (r) => {
          const type = r.contentType ?? 'application/json';
          res.writeHead(r.status, { 'content-type': type }).end(type === 'application/json' ? JSON.stringify(r.body, null, 2) + '\n' : String(r.body));
        },
        () => res.writeHead(500).end(),
      );
    });
  });
}

export async function startIdentityServer(options: IdentityServerOptions = {}): Promise<IdentityServer> {
  const host = options.host ?? '127.0.0.1';
  const store = options.stateDir ? new FileCaStateStore(options.stateDir) : new MemoryCaStateStore();
  const authority = await IdentityAuthority.open({ ...options, trustDomain: options.trustDomain ?? 'cluster.local', store });
  if (options.autoTick !== false) authority.start();
  const server = new grpc.Server();
  addIdentityService(server, authority);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${options.port ?? 0}`, identityServerCredentials(authority), (error, p) => (error ? reject(error) : resolve(p))),
  );
  let admin: http.Server | undefined;
  let adminUrl: string | undefined;
  if (options.adminPort !== false) {
    const adminPort: number = options.adminPort ?? 0;
    const a = serveAdmin(identityAdminRoutes(authority));
    admin = a;
    await new Promise<void>((r) => a.listen(adminPort, '127.0.0.1', r));
    adminUrl = `http://127.0.0.1:${(a.address() as AddressInfo).port}`;
  }
  return {
    authority,
    target: `${host}:${port}`,
    port,
    adminUrl,
    close: async () => {
      authority.close();
      // Bundle streams stay open for as long as workloads run: do not wait for them.
      server.forceShutdown();
      if (admin) {
        admin.closeAllConnections();
        await new Promise((r) => admin!.close(r));
      }
    },
  };
}
