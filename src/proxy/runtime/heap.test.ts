// Tests for heap.ts: under allocation pressure the limited heap stays small where V8's default grows.
// Each case runs in its own node process (a V8 flag cannot be unset), with the same allocation load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const heapModule = fileURLToPath(new URL('./heap.ts', import.meta.url));

interface LoadResult {
  youngBytes: number;
  oldPeakBytes: number;
  limits: { youngGenerationFrozen: boolean; oldGenerationGrowthPercent: number | null };
}

/**
 * Runs an allocation load in a fresh process and reports the young generation's size and old space's
 * largest size: short-lived objects with many survivors (what grows the young generation), then
 * objects that live long enough to be promoted and then die (what fills old space with garbage).
 */
function heapAfterLoad(limit: boolean, nodeFlags: string[] = []): LoadResult {
  const script = `
    const { limitProxyHeap, proxyHeapLimits, heapSpaceBytes } = await import(${JSON.stringify(heapModule)});
    if (${limit}) limitProxyHeap();
    let keep = [];
    for (let i = 0; i < 2e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 20000) keep = []; }
    const youngBytes = heapSpaceBytes('new_space');
    let oldPeakBytes = 0;
    const ring = new Array(100000);
    for (let i = 0; i < 3e6; i++) {
      ring[i % ring.length] = { i, payload: [i, i + 1, i + 2, i + 3] };
      if (i % 10000 === 0) oldPeakBytes = Math.max(oldPeakBytes, heapSpaceBytes('old_space'));
    }
    process.stdout.write(JSON.stringify({ youngBytes, oldPeakBytes, limits: proxyHeapLimits() }));
  `;
  const out = execFileSync(process.execPath, [...nodeFlags, '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  return JSON.parse(out) as LoadResult;
}

const unlimited = heapAfterLoad(false);
const limited = heapAfterLoad(true);

test('without the limits the load grows the young generation past 4 MB (the load is strong enough)', () => {
  assert.ok(unlimited.youngBytes > 4 * 2 ** 20, `young generation ${unlimited.youngBytes}`);
});

test('limitProxyHeap keeps the young generation at its start-up size, far below what the same load grows it to', () => {
  assert.deepEqual(limited.limits, { youngGenerationFrozen: true, oldGenerationGrowthPercent: 10 });
  // Start-up size is 4 MB for both semi-spaces here; up to 8 MB leaves room for a runtime (tsx,
  // coverage) that allocates enough before the limit to take one growth step.
  assert.ok(limited.youngBytes <= 8 * 2 ** 20, `young generation grew to ${limited.youngBytes} bytes`);
  assert.ok(limited.youngBytes < unlimited.youngBytes, `limited ${limited.youngBytes} vs default ${unlimited.youngBytes}`);
});

test('limitProxyHeap keeps old space well below what V8 lets promoted garbage fill by default', () => {
  assert.ok(limited.oldPeakBytes < unlimited.oldPeakBytes * 0.75, `old space peak ${limited.oldPeakBytes} limited vs ${unlimited.oldPeakBytes} default`);
});

test('sizes the operator chose with node flags are left alone', () => {
  const r = heapAfterLoad(true, ['--max-semi-space-size=8', '--max-old-space-size=512']);
  assert.deepEqual(r.limits, { youngGenerationFrozen: false, oldGenerationGrowthPercent: null });
});

/**
 * In a fresh process (V8 flags are process-wide): calls a small function `calls` times while the
 * optimizing compiler is held, and another after it is released; reports whether TurboFan compiled
 * each (`%GetOptimizationStatus` bit 16; `--no-concurrent-recompilation` makes compiling synchronous).
 */
function optimizedUnderHold(calls: number, nodeFlags: string[] = []): { state: string; released: string; heldOptimized: boolean; releasedOptimized: boolean } {
  const script = `
    const { holdOptimizingCompiler, releaseOptimizingCompiler } = await import(${JSON.stringify(heapModule)});
    const optimized = (f) => (%GetOptimizationStatus(f) & 16) !== 0;
    function duringStartUp(a) { return a + 1; }
    function afterStartUp(a) { return a + 1; }
    const state = holdOptimizingCompiler();
    let x = 0;
    for (let i = 0; i < ${calls}; i++) x = duringStartUp(x);
    const heldOptimized = optimized(duringStartUp);
    const released = releaseOptimizingCompiler();
    for (let i = 0; i < ${calls}; i++) x = afterStartUp(x);
    process.stdout.write(JSON.stringify({ state, released, heldOptimized, releasedOptimized: optimized(afterStartUp) }));
  `;
  const flags = ['--allow-natives-syntax', '--no-concurrent-recompilation', ...nodeFlags];
  return JSON.parse(execFileSync(process.execPath, [...flags, '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } }));
}

test('holdOptimizingCompiler keeps a hot function out of TurboFan; after releaseOptimizingCompiler the same load optimizes', () => {
  const r = optimizedUnderHold(100_000);
  assert.deepEqual({ state: r.state, released: r.released }, { state: 'held', released: 'released' });
  assert.equal(r.heldOptimized, false, 'optimized while held');
  assert.equal(r.releasedOptimized, true, 'not optimized after the release: request-path code would stay slow');
});

test('an operator\'s own tiering flags are left alone', () => {
  const r = optimizedUnderHold(100_000, ['--interrupt-budget=67584']);
  assert.deepEqual({ state: r.state, released: r.released }, { state: 'operator-chosen', released: 'operator-chosen' });
  assert.equal(r.heldOptimized, true);
});
