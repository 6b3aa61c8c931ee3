// The proxy's heap limits: keep V8 from growing the heap under load far past what the proxy holds.
// Under a high allocation rate V8 doubles each semi-space of the young generation up to 16 MB
// (~48 MB of RSS), and it lets old space fill with promoted garbage up to a generous limit before
// marking (~45 MB under h2load); a proxy's peak RSS went from ~56 MB idle to 100–250 MB that way.
// `--max-semi-space-size` and `--max-old-space-size` are read only when the heap is created, so they
// cannot be set from inside a running process. Two flags that V8 reads at every resize can:
//   --semi-space-growth-factor=1  the young generation stays at the size it has when this runs
//                                 (1–2 MB per semi-space right after start-up);
//   --heap-growing-percent=10     after each full GC, old space may grow by 10 % before the next one
//                                 (V8's default factor is 1.1–4× depending on the allocation rate).
// Measured (docs/PROXY.md "Memory"): peak under h2load 110 → 80 MB, under wrk 75 → 63 MB, with no
// CPU per request difference on the HTTP/1 path and +5–8 % on the h2c path (more full GCs).
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

export interface HeapLimits {
  /** The young generation no longer grows (semi-space growth factor 1). */
  readonly youngGenerationFrozen: boolean;
  /** Old space grows by this percentage per full GC; null when V8's own heuristics apply. */
  readonly oldGenerationGrowthPercent: number | null;
}

const OLD_GENERATION_GROWTH_PERCENT = 10;

let applied: HeapLimits = { youngGenerationFrozen: false, oldGenerationGrowthPercent: null };

/** True when the process was started with one of these V8 flags (node flag or NODE_OPTIONS). */
function chosenByOperator(flags: readonly RegExp[]): boolean {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return given.some((f) => flags.some((re) => re.test(f)));
}

/**
 * Applies the proxy's heap limits, except where the operator chose a size with node flags. Call it
 * early, before traffic. Returns what is now in effect.
 */
export function limitProxyHeap(): HeapLimits {
  const youngChosen = chosenByOperator([/^--(max|min)[-_]semi[-_]space[-_]size\b/, /^--semi[-_]space[-_]growth[-_]factor\b/]);
  const oldChosen = chosenByOperator([/^--max[-_]old[-_]space[-_]size\b/, /^--heap[-_]growing[-_]percent\b/]);
  if (!youngChosen) setFlagsFromString('--semi-space-growth-factor=1');
  if (!oldChosen) setFlagsFromString(`--heap-growing-percent=${OLD_GENERATION_GROWTH_PERCENT}`);
  applied = {
    youngGenerationFrozen: applied.youngGenerationFrozen || !youngChosen,
    oldGenerationGrowthPercent: oldChosen ? applied.oldGenerationGrowthPercent : OLD_GENERATION_GROWTH_PERCENT,
  };
  return applied;
}

/** What limitProxyHeap() put in effect in this process (for /memory). */
export function proxyHeapLimits(): HeapLimits {
  return applied;
}

/** The current capacity of a V8 heap space in bytes (`new_space` = both semi-spaces, `old_space`). */
export function heapSpaceBytes(space: 'new_space' | 'old_space'): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === space)?.space_size ?? 0;
}
