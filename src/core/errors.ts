// The error base class: every failure weft reports has a stable `code` (never a bare string),
// an optional `cause`, and optional structured `details` for machines.

export interface WeftErrorOptions {
  cause?: unknown;
  details?: Readonly<Record<string, unknown>>;
}

export class WeftError extends Error {
  /** Stable, documented identifier such as `CONFIG_INVALID` or `NO_HEALTHY_ENDPOINT`. */
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: string, message: string, options: WeftErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

/** Narrows an unknown thrown value to an Error, wrapping non-Errors so callers never see strings. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new WeftError('NON_ERROR_THROWN', `non-error value thrown: ${String(value)}`);
}

/** True when `value` is a WeftError (or subclass) carrying `code`. */
export function hasCode(value: unknown, code: string): value is WeftError {
  return value instanceof WeftError && value.code === code;
}
