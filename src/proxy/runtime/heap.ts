// The proxy's heap configuration: keeps V8's young generation from growing under load.
// Under a high allocation rate V8 doubles each semi-space of the young generation up to 16 MB (three
// semi-spaces' worth of RSS, ~48 MB) and old space follows with the objects promoted meanwhile; a
// proxy's peak RSS went from ~85 MB idle to 265–380 MB that way. `--max-semi-space-size` caps it but
// is read only when the heap is created, so it cannot be set from inside a running process; the
// growth factor is read at every resize, so setting it to 1 freezes the young generation at the
// size it has reached when this runs (1–2 MB per semi-space right after start-up).
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** True when the process was started with its own young-generation size (node flag or NODE_OPTIONS). */
function youngGenerationChosenByOperator(): boolean {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return flags.some((f) => /^--(max|min)[-_]semi[-_]space[-_]size\b/.test(f) || /^--semi[-_]space[-_]growth[-_]factor\b/.test(f));
}

/**
 * Freezes the young generation at its current size, unless the operator chose a size with node
 * flags. Call it early, before traffic. Returns whether it changed anything.
 */
export function limitYoungGeneration(): boolean {
  if (youngGenerationChosenByOperator()) return false;
  setFlagsFromString('--semi-space-growth-factor=1');
  limited = true;
  return true;
}

let limited = false;

/** Whether limitYoungGeneration() froze the young generation in this process. */
export function youngGenerationLimited(): boolean {
  return limited;
}

/** The young generation's current capacity in bytes (both semi-spaces), for /config_dump and tests. */
export function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}
