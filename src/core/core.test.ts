import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ok, err, unwrap, mapResult } from './result.ts';
import { WeftError, toError, hasCode } from './errors.ts';
import { Watch } from './watch.ts';
import { CoarseTimer, type Clock } from './coarse-timer.ts';

test('Result: ok, err, unwrap and map', () => {
  assert.equal(unwrap(ok(3)), 3);
  assert.throws(() => unwrap(err(new WeftError('X', 'boom'))), /boom/);
  const mapped = mapResult(ok(2), (v) => v * 10);
  assert.deepEqual(mapped, { ok: true, value: 20 });
  const failed = mapResult(err('e') as ReturnType<typeof err<string>>, (v: number) => v);
  assert.equal(failed.ok, false);
});

test('WeftError carries a stable code, cause and details', () => {
  const cause = new Error('inner');
  const e = new WeftError('CONFIG_INVALID', 'bad', { cause, details: { file: 'a.yaml' } });
  assert.equal(e.code, 'CONFIG_INVALID');
  assert.equal(e.cause, cause);
  assert.equal(e.name, 'WeftError');
  assert.deepEqual(e.toJSON(), { code: 'CONFIG_INVALID', message: 'bad', details: { file: 'a.yaml' } });
  assert.ok(hasCode(e, 'CONFIG_INVALID'));
  assert.ok(!hasCode(new Error('x'), 'CONFIG_INVALID'));
  const wrapped = toError('a string');
  assert.ok(wrapped instanceof WeftError);
  assert.match(wrapped.message, /a string/);
});

test('Watch: current, subscribe, unsubscribe, until', async () => {
  const w = new Watch(1);
  const seen: number[] = [];
  const stop = w.subscribe((v) => seen.push(v), { now: true });
  w.set(2);
  stop();
  w.set(3);
  assert.deepEqual(seen, [1, 2]);
  assert.equal(w.current, 3);
  assert.equal(w.version, 2);
  const later = w.until((v) => v >= 5);
  w.set(4);
  w.set(5);
  assert.equal(await later, 5);
  assert.equal(w.subscriberCount, 0);
  const ac = new AbortController();
  const never = w.until((v) => v > 100, ac.signal);
  ac.abort(new Error('stop'));
  await assert.rejects(never, /stop/);
});

test('CoarseTimer fires due deadlines once per tick and skips cancelled ones', () => {
  let now = 0;
  const clock: Clock = { now: () => now };
  const timer = new CoarseTimer({ resolutionMs: 10, clock });
  const fired: string[] = [];
  const a = timer.deadline(25, () => fired.push('a'));
  const b = timer.deadline(25, () => fired.push('b'));
  timer.deadline(100, () => fired.push('c'));
  b.cancel();
  now = 20;
  timer.advance();
  assert.deepEqual(fired, []);
  now = 40;
  timer.advance();
  assert.deepEqual(fired, ['a']);
  assert.ok(a.fired);
  assert.ok(!b.fired);
  now = 200;
  timer.advance();
  assert.deepEqual(fired, ['a', 'c']);
  assert.equal(timer.pending, 0);
  timer.close();
});

test('CoarseTimer runs on its own interval', async () => {
  const timer = new CoarseTimer({ resolutionMs: 5 });
  const started = performance.now();
  // The timer's interval is unref'd (it must not keep a process alive); hold the loop open here.
  const keepAlive = setTimeout(() => {}, 1000);
  await new Promise<void>((resolve) => timer.deadline(20, resolve));
  clearTimeout(keepAlive);
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 15, `fired after ${elapsed} ms`);
  timer.close();
});
