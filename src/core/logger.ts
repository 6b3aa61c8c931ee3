// Structured logging (pino) with one child logger per module: `logger('proxy.outbound')`.
// Level from WEFT_LOG_LEVEL (default info; tests default to warn). Secrets must never be passed in:
// the redact list below is the last line of defence, not the first.
import { pino, type Logger } from 'pino';

export type { Logger };

const defaultLevel = process.env.WEFT_LOG_LEVEL ?? (process.env.NODE_TEST_CONTEXT ? 'warn' : 'info');

let root: Logger = pino({
  level: defaultLevel,
  base: undefined,
  redact: {
    paths: ['token', '*.token', 'privateKey', '*.privateKey', 'key', '*.keyPem', 'keyPem', 'authorization', '*.authorization'],
    censor: '[redacted]',
  },
});

/** A logger for one module; the module name is the `module` field of every line. */
export function logger(module: string): Logger {
  return root.child({ module });
}

/** Replaces the root logger (tests, or the CLI choosing a destination). Existing children keep the old one. */
export function setRootLogger(next: Logger): void {
  root = next;
}

export function rootLogger(): Logger {
  return root;
}
