// A small standalone identity server (gRPC identity service over TLS + admin HTTP on 127.0.0.1) used by
// tests, the benchmark and the CLI until the full control plane composes the same pieces.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { IdentityAuthority, type IdentityAuthorityOptions } from './authority.ts';
import { FileCaStateStore, MemoryCaStateStore } from './state-store.ts';
import { addIdentityService, identityServerCredentials } from './service.ts';
import { identityAdminRoutes } from './admin.ts';
import { serveAdminRoutes } from '../admin.ts';

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
    const a = serveAdminRoutes({}, identityAdminRoutes(authority));
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
