// Starts benchmark processes (servers, proxies, load generators) and guarantees they are killed:
// every child runs in its own process group, and the whole group is killed when the benchmark
// exits, throws, or receives SIGINT/SIGTERM/SIGHUP.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { WeftError } from '../../src/core/errors.ts';

export class BenchError extends WeftError {
  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

export interface Spawned {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything the process wrote to stdout and stderr so far (kept for error messages). */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** False once the process has exited (crashed, or stopped). */
  alive(): boolean;
  /** Kills the process group (SIGTERM, then SIGKILL after `graceMs`) and waits for exit. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<Spawned>();
let hooked = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Kills every live child synchronously; safe to call from an 'exit' handler. */
export function killAll(): void {
  for (const p of live) killGroup(p.pid, 'SIGKILL');
  live.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      killAll();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
  // Uncaught exceptions and unhandled rejections end the process through 'exit' too.
}

export interface StartOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Keep at most this many bytes of output for diagnostics (default 64 KiB). */
  keepOutput?: number;
}

/** Spawns `cmd args` in a new process group, registered for cleanup. */
export function start(name: string, cmd: string, args: readonly string[], options: StartOptions = {}): Spawned {
  hookExit();
  // WEFT_BENCH_NICE=-10 (root only for negative values) runs every benchmark process at that
  // priority, so that other work on a shared machine disturbs the measurement less.
  const nice = process.env.WEFT_BENCH_NICE;
  if (nice !== undefined && nice !== '') {
    args = ['-n', nice, cmd, ...args];
    cmd = 'nice';
  }
  const child = spawn(cmd, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  if (child.pid === undefined) throw new BenchError('BENCH_SPAWN_FAILED', `could not start ${name} (${cmd}): is it installed?`);
  const keep = options.keepOutput ?? 64 * 1024;
  let out = '';
  const collect = (chunk: Buffer): void => {
    out += chunk.toString('utf8');
    if (out.length > keep) out = out.slice(out.length - keep);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      live.delete(spawned);
      resolve(code ?? signal ?? 'unknown');
    });
    child.on('error', () => {
      live.delete(spawned);
      resolve('spawn-error');
    });
  });
  const pid = child.pid;
  const spawned: Spawned = {
    name,
    child,
    pid,
    output: () => out,
    exited,
    alive: () => live.has(spawned),
    async stop(graceMs = 2000) {
      if (!live.has(spawned)) return;
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      // Children of the group that ignored SIGTERM (or outlived their parent) must go too.
      killGroup(pid, 'SIGKILL');
    },
  };
  live.add(spawned);
  return spawned;
}

/** Runs a command to completion and returns its stdout; throws BenchError on a non-zero exit. */
export async function run(name: string, cmd: string, args: readonly string[], options: StartOptions = {}): Promise<string> {
  const p = start(name, cmd, args, { ...options, keepOutput: options.keepOutput ?? 4 * 1024 * 1024 });
  let stdout = '';
  p.child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  const code = await p.exited;
  if (code !== 0) throw new BenchError('BENCH_COMMAND_FAILED', `${name} exited with ${code}: ${p.output().slice(-2000)}`);
  return stdout;
}

/** Asks the kernel for a free TCP port on 127.0.0.1 (for configs that need a port number up front). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once 127.0.0.1:port accepts a TCP connection; rejects with the process output on timeout or exit. */
export async function waitForPort(port: number, owner?: Spawned, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const okNow = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (okNow) return;
    if (owner !== undefined && !live.has(owner)) {
      throw new BenchError('BENCH_PROCESS_EXITED', `${owner.name} exited before listening on ${port}: ${owner.output().slice(-2000)}`);
    }
    if (Date.now() > deadline) {
      throw new BenchError('BENCH_PORT_TIMEOUT', `nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms${owner ? `; ${owner.name} said: ${owner.output().slice(-2000)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
