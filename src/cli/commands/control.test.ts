import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultWarmupMs } from './control.ts';
import { CA_STATE_FILE } from '../../control/identity/state-store.ts';

test('a restart (state dir with an earlier CA state) waits the grace period before pushing; a first start does not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-warmup-'));
  try {
    assert.equal(defaultWarmupMs(undefined, 10_000), 0);
    assert.equal(defaultWarmupMs(dir, 10_000), 0);
    writeFileSync(join(dir, CA_STATE_FILE), '{}');
    assert.equal(defaultWarmupMs(dir, 10_000), 10_000);
    assert.equal(defaultWarmupMs(dir, 2_500), 2_500);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
