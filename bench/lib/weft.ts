// Starts weft proxies for the benchmarks from static bootstrap files (src/proxy/runtime/spec.ts):
// the two-hop mesh path (outbound proxy → h2 mTLS → inbound proxy → app) and one plain hop
// (outbound proxy → app, no TLS). Each proxy is its own `weft proxy --bootstrap FILE` process (or,
// before that command exists, bench/lib/weft-proxy-launcher.ts, which starts the same WeftProxy),
// from sources compiled to JavaScript (bench/lib/compile-weft.ts) as deployed, optionally under
// `node --cpu-prof` so the hot path can be profiled.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start, freePort, waitForPort, type Spawned } from './processes.ts';
import type { Endpoint, MtlsPair } from './servers.ts';
import { compileWeft, COMPILED_DIR } from './compile-weft.ts';
import type { ProxyConfigSpec, PeerProtocol } from '../../src/proxy/runtime/spec.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const weftBin = join(root, 'bin', 'weft.js');

/** The Host the client sends on weft paths: the bootstrap's service name. */
export const WEFT_SERVICE = 'upstream';

export interface WeftStartOptions {
  /** Directory for `--cpu-prof` output; no profiling when absent. */
  cpuProfDir?: string;
  /** Extra node flags for the proxy processes. */
  nodeFlags?: string[];
  /**
   * Run this proxy from sources at this git revision (compiled once per revision) instead of the
   * working tree / WEFT_BENCH_REV: a before/after comparison inside one run, on the same load.
   */
  rev?: string;
}

const launcher = join(root, 'bench', 'lib', 'weft-proxy-launcher.ts');

/** True when this checkout has the `weft proxy` command (src/cli/commands/proxy.ts). */
export function weftCliAvailable(): boolean {
  return existsSync(join(root, 'src', 'cli', 'commands', 'proxy.ts'));
}

/** True when a weft proxy can run: through the CLI, or through bench/lib/weft-proxy-launcher.ts. */
export function weftProxyAvailable(): boolean {
  return weftCliAvailable() || existsSync(join(root, 'src', 'proxy', 'proxy.ts'));
}

/**
 * How the proxy is started: through the `weft proxy` command (`cli`) or, before that command
 * existed, bench/lib/weft-proxy-launcher.ts (`launcher`, set WEFT_BENCH_LAUNCHER=1 to force it);
 * and from sources compiled to JavaScript (default, as deployed) or under tsx (WEFT_BENCH_TSX=1).
 */
export function weftLaunchMode(): string {
  const entry = weftCliAvailable() && process.env.WEFT_BENCH_LAUNCHER !== '1' ? 'cli' : 'launcher';
  const source = process.env.WEFT_BENCH_TSX === '1' ? 'tsx' : `compiled JS from ${process.env.WEFT_BENCH_REV ? `git ${process.env.WEFT_BENCH_REV}` : 'the working tree'}`;
  return `${entry}, ${source}`;
}

/** The commit the weft proxies are built from (`<sha>` for WEFT_BENCH_REV, `<HEAD sha>+worktree` otherwise). */
export function weftSourceCommit(): string {
  const rev = process.env.WEFT_BENCH_REV || 'HEAD';
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', rev], { cwd: root, encoding: 'utf8' }).trim();
    return process.env.WEFT_BENCH_REV ? sha : `${sha}+worktree`;
  } catch {
    return 'unknown';
  }
}

let compiled: string | undefined;
const compiledByRev = new Map<string, string>();

/** Node arguments that run one proxy with `file` as its bootstrap (`rev`: sources from that commit). */
function entryArgs(file: string, rev?: string): string[] {
  const cli = weftCliAvailable() && process.env.WEFT_BENCH_LAUNCHER !== '1';
  if (process.env.WEFT_BENCH_TSX === '1' && rev === undefined) {
    return cli ? [weftBin, 'proxy', '--bootstrap', file] : ['--import', 'tsx', launcher, '--bootstrap', file];
  }
  if (rev !== undefined) {
    let dir = compiledByRev.get(rev);
    if (dir === undefined) {
      dir = compileWeft(undefined, rev, `${COMPILED_DIR}-rev-${rev.replace(/[^\w.-]/g, '_')}`);
      compiledByRev.set(rev, dir);
    }
    return cli ? [join(dir, 'weft.js'), 'proxy', '--bootstrap', file] : [join(dir, 'bench', 'lib', 'weft-proxy-launcher.js'), '--bootstrap', file];
  }
  compiled ??= compileWeft();
  return cli ? [join(compiled, 'weft.js'), 'proxy', '--bootstrap', file] : [join(compiled, 'bench', 'lib', 'weft-proxy-launcher.js'), '--bootstrap', file];
}

async function startWeft(tag: string, spec: ProxyConfigSpec, waitPort: number, o: WeftStartOptions): Promise<Spawned> {
  const dir = mkdtempSync(join(tmpdir(), `weft-bench-${tag}-`));
  const file = join(dir, 'bootstrap.json');
  writeFileSync(file, JSON.stringify(spec, null, 2), { mode: 0o600 });
  const flags = [...(o.nodeFlags ?? [])];
  // One directory per proxy: every thread (main, and the tsx loader worker) writes its own profile there.
  if (o.cpuProfDir !== undefined) rmSync(join(o.cpuProfDir, `weft-${tag}`), { recursive: true, force: true });
  if (o.cpuProfDir !== undefined) flags.push('--cpu-prof', `--cpu-prof-dir=${join(o.cpuProfDir, `weft-${tag}`)}`);
  const p = start(`weft-${tag}`, process.execPath, [...flags, ...entryArgs(file, o.rev)], {
    env: { ...process.env, WEFT_LOG_LEVEL: process.env.WEFT_LOG_LEVEL ?? 'warn', WEFT_FROM_SOURCE: '1' },
  });
  await waitForPort(waitPort, p, 30000);
  return p;
}

/** Bootstrap of the client-side proxy: an outbound listener routing Host `upstream` to `cluster`. */
export function outboundSpec(o: { port: number; upstreamPort: number; peerProtocol: PeerProtocol | undefined; inboundPort?: number; serverSpiffeId?: string; pair?: MtlsPair }): ProxyConfigSpec {
  const meshed = o.peerProtocol !== 'plain';
  return {
    version: 'bench',
    workload: {
      name: 'client',
      namespace: 'default',
      trustDomain: o.pair?.pki.trustDomain ?? 'bench.local',
      ...(o.pair ? { identity: { certChainFile: o.pair.client.certPath, keyFile: o.pair.client.keyPath, trustBundleFile: o.pair.pki.caPath } } : {}),
    },
    listeners: { outbound: { address: '127.0.0.1', port: o.port }, inbound: null, admin: null },
    services: [{ name: WEFT_SERVICE, namespace: 'default', ports: [{ port: 80, protocol: 'http1', cluster: WEFT_SERVICE }] }],
    clusters: [
      {
        name: WEFT_SERVICE,
        // Absent: the proxy's default for a meshed endpoint (`h2` on weft's own codec; see ClusterSpec.peerProtocol).
        ...(o.peerProtocol !== undefined ? { peerProtocol: o.peerProtocol } : {}),
        protocol: 'http1',
        endpoints: [
          {
            address: '127.0.0.1',
            port: o.upstreamPort,
            ...(meshed ? { proxyPort: o.inboundPort, spiffeId: o.serverSpiffeId } : {}),
          },
        ],
      },
    ],
  };
}

/** Bootstrap of the server-side proxy: an mTLS inbound listener forwarding to the app's port. */
export function inboundSpec(o: { port: number; upstreamPort: number; pair: MtlsPair }): ProxyConfigSpec {
  return {
    version: 'bench',
    workload: {
      name: WEFT_SERVICE,
      namespace: 'default',
      trustDomain: o.pair.pki.trustDomain,
      identity: { certChainFile: o.pair.server.certPath, keyFile: o.pair.server.keyPath, trustBundleFile: o.pair.pki.caPath },
      inbound: { mtlsMode: 'STRICT', appAddress: '127.0.0.1', ports: [{ port: o.upstreamPort, protocol: 'http1' }], allowedPeers: [o.pair.client.spiffeId] },
    },
    listeners: { outbound: null, inbound: { address: '127.0.0.1', port: o.port }, admin: null },
  };
}

/**
 * The weft mesh path: client → outbound proxy → (`link`, mTLS) → inbound proxy → upstream.
 * `link` absent = the proxy's default peer protocol (`h2`); `tag` names the processes and profiles.
 */
export async function startWeftMesh(upstreamPort: number, pair: MtlsPair, o: WeftStartOptions & { link?: 'h2' | 'http1'; tag?: string } = {}): Promise<Endpoint> {
  const inPort = await freePort();
  const port = await freePort();
  const suffix = o.tag !== undefined ? `-${o.tag}` : '';
  const inbound = await startWeft(`inbound${suffix}`, inboundSpec({ port: inPort, upstreamPort, pair }), inPort, o);
  const outbound = await startWeft(`outbound${suffix}`, outboundSpec({ port, upstreamPort, peerProtocol: o.link, inboundPort: inPort, serverSpiffeId: pair.server.spiffeId, pair }), port, o);
  return {
    procs: [outbound, inbound],
    port,
    h2Port: port,
    stop: async () => {
      await outbound.stop(5000);
      await inbound.stop(5000);
    },
  };
}

/** weft as one plain hop: client → outbound proxy → upstream (peerProtocol `plain`, no TLS). */
export async function startWeftHop(upstreamPort: number, o: WeftStartOptions = {}): Promise<Endpoint> {
  const port = await freePort();
  const p = await startWeft('hop', outboundSpec({ port, upstreamPort, peerProtocol: 'plain' }), port, o);
  return { procs: [p], port, h2Port: port, stop: () => p.stop(5000) };
}
