// Runs the real `weft` command (bin/weft.js, from the sources) as a child process, without blocking
// the test runner's event loop: its exit code and both outputs.
import { execFile } from 'node:child_process';
import { join } from 'node:path';

/** The `weft` entry point of this checkout. */
export const WEFT_BIN = join(import.meta.dirname, '..', '..', 'bin', 'weft.js');

/** The environment tests run `weft` with: the sources (never a stale dist/), quiet logs. */
export const WEFT_ENV: NodeJS.ProcessEnv = { ...process.env, WEFT_FROM_SOURCE: '1', WEFT_LOG_LEVEL: 'warn' };

export interface WeftRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function runWeft(args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<WeftRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [WEFT_BIN, ...args], { env: options.env ?? WEFT_ENV, encoding: 'utf8', timeout: options.timeoutMs ?? 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}
