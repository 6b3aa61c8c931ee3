// Tests for coarse-timer.ts memory behaviour: a cancelled deadline releases its callback at once,
// although its entry waits in the bucket until its tick.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CoarseTimer } from './coarse-timer.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Arms a deadline whose callback closes over a 1 KiB request state; returns it and a weak handle on the state. */
function armOverState(timer: CoarseTimer): { deadline: ReturnType<CoarseTimer['deadline']>; state: WeakRef<object> } {
  const requestState = { body: Buffer.alloc(1024) };
  const deadline = timer.deadline(60_000, () => requestState.body.fill(0));
  return { deadline, state: new WeakRef(requestState) };
}

test('a cancelled deadline no longer holds what its callback closes over', async () => {
  const timer = new CoarseTimer({ resolutionMs: 50 });
  const kept = armOverState(timer);
  const cancelled = armOverState(timer);
  cancelled.deadline.cancel();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  assert.equal(timer.pending, 2, 'both entries are still in their bucket');
  assert.notEqual(kept.state.deref(), undefined, 'an armed deadline keeps its callback');
  assert.equal(cancelled.state.deref(), undefined, 'the cancelled callback kept the request state alive');
  timer.close();
});
