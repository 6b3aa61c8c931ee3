// Gateway API durations (`10s`, `1h30m`, `500ms`): parsing to milliseconds and formatting back.
// Grammar (GEP-2257): one to four groups of 1–5 digits followed by h, m, s or ms; `0s` is zero.

const DURATION_RE = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const PART_RE = /([0-9]{1,5})(ms|h|m|s)/g;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** The JSON Schema pattern of a duration. */
export const DURATION_PATTERN = DURATION_RE.source;

/** Milliseconds, or undefined when `text` is not a Gateway API duration. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION_RE.test(text)) return undefined;
  let total = 0;
  PART_RE.lastIndex = 0;
  for (let m = PART_RE.exec(text); m !== null; m = PART_RE.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  }
  return total;
}

/** The shortest Gateway API duration for `ms` (e.g. 5400000 → `1h30m`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = Math.round(ms);
  let out = '';
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}
