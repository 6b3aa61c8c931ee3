// Tests for heap.ts: the young generation stops growing under allocation pressure once limited.
// Each case runs in its own node process (a V8 flag cannot be unset), with the same allocation load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const heapModule = fileURLToPath(new URL('./heap.ts', import.meta.url));

/** Runs an allocation load with many short-lived survivors (what makes V8 grow the young generation) and returns the young generation's size. */
function youngGenerationAfterLoad(limit: boolean, nodeFlags: string[] = []): { bytes: number; changed: boolean } {
  const script = `
    const { limitYoungGeneration, youngGenerationBytes } = await import(${JSON.stringify(heapModule)});
    const changed = ${limit} ? limitYoungGeneration() : false;
    let keep = [];
    for (let i = 0; i < 3e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 20000) keep = []; }
    process.stdout.write(JSON.stringify({ bytes: youngGenerationBytes(), changed }));
  `;
  const out = execFileSync(process.execPath, [...nodeFlags, '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  return JSON.parse(out) as { bytes: number; changed: boolean };
}

test('without the limit the same load grows the young generation past 4 MB (the load is strong enough)', () => {
  assert.ok(youngGenerationAfterLoad(false).bytes > 4 * 2 ** 20);
});

test('limitYoungGeneration keeps the young generation at its start-up size (≤ 4 MB for both semi-spaces) under load', () => {
  const r = youngGenerationAfterLoad(true);
  assert.equal(r.changed, true);
  assert.ok(r.bytes <= 4 * 2 ** 20, `young generation grew to ${r.bytes} bytes`);
});

test('an operator-chosen --max-semi-space-size is left alone', () => {
  const r = youngGenerationAfterLoad(true, ['--max-semi-space-size=8']);
  assert.equal(r.changed, false);
});
