// Structured logging (pino) with one child logger per module: `logger('proxy.outbound')`.
// Level from WEFT_LOG_LEVEL (default info; tests default to warn). Secrets must never be passed in:
// the redact list below is the last line of defence, not the first.
// pino itself is loaded on the first line that is actually written: a proxy that logs nothing (the
// usual case at `warn`, and at `info` until something happens) never pays its ~8 MB of resident
// memory. A call below the level returns without loading anything.
import { createRequire } from 'node:module';
import type { LogFn, Logger as PinoLogger } from 'pino';

/** What the rest of weft logs through: pino's calling conventions (`log.warn({ field }, 'message')`). */
export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
}

type LevelName = keyof Logger;

/** pino's numeric levels; `silent` writes nothing. */
const LEVEL_VALUES: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

const defaultLevel = process.env.WEFT_LOG_LEVEL ?? (process.env.NODE_TEST_CONTEXT ? 'warn' : 'info');

function createPinoRoot(): PinoLogger {
  const require = createRequire(import.meta.url);
  const { pino } = require('pino') as typeof import('pino');
  return pino({
    level: defaultLevel,
    base: undefined,
    redact: {
      paths: ['token', '*.token', 'privateKey', '*.privateKey', 'key', '*.keyPem', 'keyPem', 'authorization', '*.authorization'],
      censor: '[redacted]',
    },
  });
}

let root: PinoLogger | undefined;
// An unknown level name is a configuration error: fail at start-up as pino would, not at the first line.
if (LEVEL_VALUES[defaultLevel] === undefined) root = createPinoRoot();
const threshold = LEVEL_VALUES[defaultLevel] ?? 0;

/** One module's logger; its pino child is made on the first line written at an enabled level. */
class ModuleLogger implements Logger {
  readonly #module: string;
  #child: PinoLogger | undefined;

  constructor(module: string) {
    this.#module = module;
  }

  readonly trace: LogFn = (...args: unknown[]) => this.#write('trace', args);
  readonly debug: LogFn = (...args: unknown[]) => this.#write('debug', args);
  readonly info: LogFn = (...args: unknown[]) => this.#write('info', args);
  readonly warn: LogFn = (...args: unknown[]) => this.#write('warn', args);
  readonly error: LogFn = (...args: unknown[]) => this.#write('error', args);
  readonly fatal: LogFn = (...args: unknown[]) => this.#write('fatal', args);

  #write(level: LevelName, args: unknown[]): void {
    if (LEVEL_VALUES[level]! < threshold) return;
    root ??= createPinoRoot();
    this.#child ??= root.child({ module: this.#module });
    (this.#child[level] as (...a: unknown[]) => void)(...args);
  }
}

/** A logger for one module; the module name is the `module` field of every line. */
export function logger(module: string): Logger {
  return new ModuleLogger(module);
}

/** Replaces the root pino logger (tests, or the CLI choosing a destination). Children already used keep the old one. */
export function setRootLogger(next: PinoLogger): void {
  root = next;
}

/** The root pino logger (loads pino if nothing has logged yet). */
export function rootLogger(): PinoLogger {
  root ??= createPinoRoot();
  return root;
}
