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
// `weft proxy` calls limitProxyHeap() before it imports the proxy's modules, so the young generation
// keeps the size it had before loading them (loading ~55 modules grew it one step, 2 MB of RSS).
//
// Start-up also holds back V8's optimizing compiler (holdOptimizingCompiler / releaseOptimizingCompiler):
// resolving the proxy's modules calls three of node's loader functions (path normalisation, file URL
// to path, URL protocol) often enough that TurboFan compiled them, and running TurboFan once brings
// ~3.5 MB of the node binary's code into RSS — for functions that never run again. A larger
// `--interrupt-budget` (read by V8 whenever a function's budget is reset) while the modules load and
// the config compiles keeps start-up in the interpreter; the default is restored once the proxy
// listens, so request-path code tiers up exactly as before (docs/PERFORMANCE.md "Idle memory").
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

/** One V8 heap space: what V8 has reserved for it, what of that is resident, what live objects use. */
export interface HeapSpace {
  readonly name: string;
  readonly committedBytes: number;
  readonly residentBytes: number;
  readonly usedBytes: number;
}

/** Every V8 heap space with a non-zero size (for /memory and the RSS benchmark). */
export function heapSpaces(): HeapSpace[] {
  return getHeapSpaceStatistics()
    .filter((s) => s.space_size > 0)
    .map((s) => ({ name: s.space_name, committedBytes: s.space_size, residentBytes: s.physical_space_size, usedBytes: s.space_used_size }));
}

/**
 * V8's defaults for the two tiering flags the start-up hold changes, per V8 major.minor: restoring
 * them needs the numbers, which V8 does not report. On a V8 not listed here the compiler is not held
 * back (start-up then tiers up as V8 decides).
 */
const TIERING_DEFAULTS: Readonly<Record<string, { interruptBudget: number; earlyOptBytecodeSize: number }>> = {
  '11.3': { interruptBudget: 67_584, earlyOptBytecodeSize: 81 },
};
/**
 * While held: 16× the interrupt budget, and no "small function" optimisation on a function's first
 * tick (functions that ran before the hold, such as the URL getters, tick early on the old budget).
 * Measured: no start-up function reaches TurboFan with both, two still did with the budget alone.
 */
const HELD_BUDGET_FACTOR = 16;

export type StartupCompilerState = 'not-held' | 'held' | 'released' | 'operator-chosen' | 'unknown-v8';
let compilerState: StartupCompilerState = 'not-held';

function tieringDefaults(): { interruptBudget: number; earlyOptBytecodeSize: number } | undefined {
  const [major, minor] = process.versions.v8.split('.');
  return TIERING_DEFAULTS[`${major}.${minor}`];
}

/**
 * Holds V8's optimizing compiler back while the proxy starts (see the top of this file). Call it
 * before the proxy's modules are imported; releaseOptimizingCompiler() once it listens. Does nothing
 * when the operator set either flag or on a V8 whose defaults are not known here.
 */
export function holdOptimizingCompiler(): StartupCompilerState {
  if (compilerState !== 'not-held') return compilerState;
  const defaults = tieringDefaults();
  if (chosenByOperator([/^--interrupt[-_]budget\b/, /^--max[-_]bytecode[-_]size[-_]for[-_]early[-_]opt\b/])) compilerState = 'operator-chosen';
  else if (defaults === undefined) compilerState = 'unknown-v8';
  else {
    setFlagsFromString(`--interrupt-budget=${defaults.interruptBudget * HELD_BUDGET_FACTOR}`);
    setFlagsFromString('--max-bytecode-size-for-early-opt=0');
    compilerState = 'held';
  }
  return compilerState;
}

/** Restores V8's default tiering after holdOptimizingCompiler(); a no-op otherwise. */
export function releaseOptimizingCompiler(): StartupCompilerState {
  if (compilerState !== 'held') return compilerState;
  const defaults = tieringDefaults()!;
  setFlagsFromString(`--interrupt-budget=${defaults.interruptBudget}`);
  setFlagsFromString(`--max-bytecode-size-for-early-opt=${defaults.earlyOptBytecodeSize}`);
  compilerState = 'released';
  return compilerState;
}

/** Where the start-up hold stands (for /memory). */
export function startupCompilerState(): StartupCompilerState {
  return compilerState;
}
