// Waiting for a positive signal instead of sleeping: `eventually` polls a check until it returns a
// truthy value (or stops throwing), with a generous timeout so a loaded CI machine does not fail a
// test that is merely slow. Tests never assert on wall-clock speed; they wait for the thing to happen.

export interface WaitOptions {
  /** Give up after this long. Default 10 s: long enough for a slow 2-core CI machine. */
  readonly timeoutMs?: number;
  /** Pause between checks. Default 10 ms. */
  readonly intervalMs?: number;
  /** What is being waited for, for the timeout message. */
  readonly what?: string;
}

export const DEFAULT_WAIT_MS = 10_000;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function optionsOf(options: WaitOptions | string | undefined, timeoutMs: number | undefined): WaitOptions {
  if (typeof options === 'string') return { what: options, ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
  return { ...(options ?? {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
}

/**
 * Polls `check` until it returns a truthy value and resolves with that value. A check that throws
 * (e.g. an `assert` inside it) counts as "not yet"; on timeout the last thrown error is the cause.
 * `options` may be just the description string (with `timeoutMs` as the third argument).
 */
export async function eventually<T>(
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options?: WaitOptions | string,
  timeoutMs?: number,
): Promise<T> {
  const o = optionsOf(options, timeoutMs);
  const limit = o.timeoutMs ?? DEFAULT_WAIT_MS;
  const interval = o.intervalMs ?? 10;
  const deadline = Date.now() + limit;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${limit} ms waiting for ${o.what ?? 'a condition'}${detail}`, lastError === undefined ? undefined : { cause: lastError });
    }
    await sleep(interval);
  }
}

/** Polls a boolean condition until it holds (see `eventually`). */
export async function waitFor(cond: () => boolean | Promise<boolean>, options?: WaitOptions | string, timeoutMs?: number): Promise<void> {
  await eventually(async () => (await cond()) || undefined, options, timeoutMs);
}

/** Polls `get` until `until(value)` holds and resolves with that value; the timeout message shows the last value. */
export async function waitForValue<T>(get: () => T | Promise<T>, until: (value: T) => boolean, options?: WaitOptions | string): Promise<T> {
  const o = optionsOf(options, undefined);
  let last: T | undefined;
  try {
    return await eventually(async () => {
      const v = await get();
      last = v;
      return until(v) ? { v } : undefined;
    }, o).then((box) => box.v);
  } catch (error) {
    throw new Error(`${(error as Error).message}; last value: ${JSON.stringify(last)}`, { cause: error });
  }
}
