// Starts the baseline servers and proxies of the benchmarks from generated configs, each bound to
// 127.0.0.1, single-threaded, in the foreground (so /proc CPU and RSS cover the whole thing):
// the nginx 1 KiB upstream, nginx as one plain hop, HAProxy as one plain hop or as the two mTLS
// hops of a mesh path, and two Node references (a raw TCP pipe and a core `http` proxy).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start, freePort, waitForPort, type Spawned } from './processes.ts';
import type { BenchPki, BenchLeaf } from './certs.ts';

export interface Endpoint {
  /** The processes whose CPU and memory count for this hop (the proxy, never the upstream). */
  procs: Spawned[];
  /** HTTP/1.1 port a client connects to. */
  port: number;
  /** h2c (prior knowledge) port, when this endpoint offers one. */
  h2Port?: number;
  stop(): Promise<void>;
}

/** The response body every path serves: 1 KiB. */
export const BODY_BYTES = 1024;

function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `weft-bench-${tag}-`));
}

function nginxConfig(dir: string, servers: string): string {
  return `daemon off;
master_process off;
worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 8192; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
${servers}
}
`;
}

async function startNginx(tag: string, servers: (dir: string) => string, ports: number[]): Promise<Spawned> {
  const dir = tempDir(tag);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(dir, servers(dir)));
  const p = start(`nginx-${tag}`, 'nginx', ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')]);
  for (const port of ports) await waitForPort(port, p);
  return p;
}

/** The upstream every path ends at: nginx `return 200` with a 1 KiB body, HTTP/1.1 and h2c ports. */
export async function startUpstream(): Promise<Endpoint> {
  const port = await freePort();
  const h2Port = await freePort();
  const body = 'x'.repeat(BODY_BYTES);
  const p = await startNginx('upstream', () => `  server {
    listen 127.0.0.1:${port} backlog=4096;
    listen 127.0.0.1:${h2Port} http2 backlog=4096;
    location / { default_type text/plain; return 200 "${body}"; }
  }`, [port, h2Port]);
  return { procs: [p], port, h2Port, stop: () => p.stop() };
}

/** nginx as one plain HTTP/1.1 hop with a keep-alive upstream pool. */
export async function startNginxHop(upstreamPort: number): Promise<Endpoint> {
  const port = await freePort();
  const p = await startNginx('hop', () => `  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 256; keepalive_requests 10000000; }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }`, [port]);
  return { procs: [p], port, stop: () => p.stop() };
}

const haproxyGlobal = `global
  nbthread 1
  maxconn 4000
  tune.ssl.default-dh-param 2048
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always
`;

async function startHaproxy(tag: string, config: string, ports: number[]): Promise<Spawned> {
  const dir = tempDir(`haproxy-${tag}`);
  const cfg = join(dir, 'haproxy.cfg');
  // A stats socket per instance (`echo 'show info' | socat - UNIX:<dir>/admin.sock`) for debugging.
  writeFileSync(cfg, config.replace('global\n', `global\n  stats socket ${join(dir, 'admin.sock')} mode 600 level admin\n`));
  const p = start(`haproxy-${tag}`, 'haproxy', ['-db', '-f', cfg]);
  for (const port of ports) await waitForPort(port, p);
  return p;
}

/** HAProxy as one plain hop (HTTP/1.1 port and h2c port), one thread. */
export async function startHaproxyHop(upstreamPort: number): Promise<Endpoint> {
  const port = await freePort();
  const h2Port = await freePort();
  const p = await startHaproxy('hop', `${haproxyGlobal}
frontend hop
  bind 127.0.0.1:${port}
  bind 127.0.0.1:${h2Port} proto h2
  default_backend app
backend app
  server app 127.0.0.1:${upstreamPort}
`, [port, h2Port]);
  return { procs: [p], port, h2Port, stop: () => p.stop() };
}

export interface MtlsPair {
  client: BenchLeaf;
  server: BenchLeaf;
  pki: BenchPki;
}

/**
 * HAProxy in both hops of the mesh path, doing what weft does: client → outbound HAProxy (plain)
 * → TLS 1.3 with client certificates, both sides verifying the chain against the bench CA →
 * inbound HAProxy → upstream. `link` chooses the protocol between the hops (weft uses h2).
 * HAProxy 2.6 cannot match a URI SAN, so it checks the chain only (weft also checks the SPIFFE ID,
 * once per connection).
 */
export async function startHaproxyMesh(upstreamPort: number, certs: MtlsPair, link: 'h2' | 'http/1.1' = 'h2'): Promise<Endpoint> {
  const inPort = await freePort();
  const port = await freePort();
  const h2Port = await freePort();
  const tls = `ssl-min-ver TLSv1.3 ca-file ${certs.pki.caPath} verify required`;
  const inbound = await startHaproxy('inbound', `${haproxyGlobal}
frontend inbound
  bind 127.0.0.1:${inPort} ssl crt ${certs.server.comboPath} ${tls} alpn h2,http/1.1
  default_backend app
backend app
  server app 127.0.0.1:${upstreamPort}
`, [inPort]);
  const outbound = await startHaproxy('outbound', `${haproxyGlobal}
frontend outbound
  bind 127.0.0.1:${port}
  bind 127.0.0.1:${h2Port} proto h2
  default_backend mesh
backend mesh
  server inbound 127.0.0.1:${inPort} ssl crt ${certs.client.comboPath} ${tls} alpn ${link}
`, [port, h2Port]);
  return {
    procs: [outbound, inbound],
    port,
    h2Port,
    stop: async () => {
      await outbound.stop();
      await inbound.stop();
    },
  };
}

const libDir = fileURLToPath(new URL('.', import.meta.url));

/** A Node reference proxy from bench/lib (`tcp-pipe-proxy.ts` or `node-http-proxy.ts`). */
export async function startNodeReference(kind: 'tcp-pipe' | 'node-http', upstreamPort: number): Promise<Endpoint> {
  const port = await freePort();
  const file = join(libDir, kind === 'tcp-pipe' ? 'tcp-pipe-proxy.ts' : 'node-http-proxy.ts');
  const p = start(kind, process.execPath, ['--import', 'tsx', file, '--port', String(port), '--upstream', String(upstreamPort)]);
  await waitForPort(port, p);
  return { procs: [p], port, stop: () => p.stop() };
}
