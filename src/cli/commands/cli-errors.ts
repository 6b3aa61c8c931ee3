// How the weft commands report failures: usage errors (a bad flag value, a missing or conflicting flag)
// are commander `InvalidArgumentError`s, which `src/cli/main.ts` turns into exit code 2; flag parsers for
// numbers; and `AdminUnreachableError` (exit 1) when a command cannot reach an admin API.
import { InvalidArgumentError } from 'commander';
import { WeftError } from '../../core/errors.ts';

/**
 * A usage error raised inside a command's action (after parsing): printed like commander's own
 * (`error: …`) because main.ts prints nothing for commander errors, then thrown → exit code 2.
 */
export function usageError(message: string): InvalidArgumentError {
  process.stderr.write(`error: ${message}\n`);
  return new InvalidArgumentError(message);
}

/** Option parser: a TCP port, 0–65535 (0 = any free port). */
export function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('Expected a port number (0-65535).');
  return n;
}

/** Option parser: a whole number ≥ 0 (milliseconds, counts). */
export function parseNonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('Expected a whole number (0 or more).');
  return n;
}

/** Option parser: a number > 0 (rates). */
export function parsePositiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('Expected a number greater than 0.');
  return n;
}

export class AdminUnreachableError extends WeftError {
  constructor(url: string, cause: unknown) {
    super('CLI_ADMIN_UNREACHABLE', `cannot reach the control plane admin API at ${url} (is \`weft control\` running? pass --admin URL): ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
