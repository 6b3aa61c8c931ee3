// Benchmark output: an aligned text table for people and exactly one JSON line for machines
// (prefixed by nothing, so `... | tail -1 | jq` works), plus number formatting helpers.

export type Cell = string | number | undefined;

/** Formats a number for a table: fixed decimals, thousands separated, '-' when missing. */
export function fmt(v: number | undefined, digits = 0): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Renders rows under a header; numbers right-aligned, text left-aligned. */
export function renderTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((r) => header.map((_, i) => {
    const c = r[i];
    return c === undefined ? '-' : typeof c === 'number' ? fmt(c, Number.isInteger(c) ? 0 : 2) : c;
  }));
  const numeric = header.map((_, i) => rows.some((r) => typeof r[i] === 'number'));
  const widths = header.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (numeric[i] ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...text.map(line)].join('\n');
}

export function printTable(title: string, header: readonly string[], rows: readonly (readonly Cell[])[]): void {
  process.stdout.write(`\n${title}\n${renderTable(header, rows)}\n`);
}

/** Prints the one machine-readable line of a benchmark run. */
export function printJsonLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export interface Target {
  name: string;
  /** The measured value, in `unit`. */
  value: number | undefined;
  limit: number;
  /** 'max': pass when value <= limit; 'min': pass when value >= limit. */
  kind: 'max' | 'min';
  unit: string;
}

export interface TargetResult extends Target {
  pass: boolean | null;
}

/** Evaluates targets; a target whose value could not be measured passes as null (not measured). */
export function judge(targets: readonly Target[]): TargetResult[] {
  return targets.map((t) => ({
    ...t,
    pass: t.value === undefined || !Number.isFinite(t.value) ? null : t.kind === 'max' ? t.value <= t.limit : t.value >= t.limit,
  }));
}

export function targetRows(results: readonly TargetResult[]): Cell[][] {
  return results.map((r) => [r.name, r.value === undefined ? undefined : Number(r.value.toFixed(3)), `${r.kind === 'max' ? '<=' : '>='} ${r.limit}`, r.unit, r.pass === null ? 'not measured' : r.pass ? 'PASS' : 'FAIL']);
}
