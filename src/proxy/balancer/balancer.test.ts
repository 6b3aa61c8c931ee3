import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EndpointState } from './endpoint-state.ts';
import { P2cEwmaPicker } from './lb-p2c-ewma.ts';
import { RoundRobinPicker } from './lb-round-robin.ts';
import { RingHashPicker } from './lb-ring-hash.ts';
import type { EndpointConfig } from '../runtime/snapshot.ts';

function ep(port: number, weight = 1): EndpointState {
  const c: EndpointConfig = { key: `10.0.0.1:${port}`, address: '10.0.0.1', port, proxyPort: undefined, spiffeId: undefined, weight, labels: {} };
  return new EndpointState(c);
}
const policy = { ejectAfterFailures: 1, ejectBaseMs: 100 };

test('round robin cycles by weight and skips ejected endpoints', () => {
  const eps = [ep(1), ep(2, 2)];
  const rr = new RoundRobinPicker(eps);
  const counts = new Map<number, number>();
  for (let i = 0; i < 300; i++) {
    const r = rr.pick({ now: 0 });
    assert.equal(r.type, 'pick');
    if (r.type === 'pick') counts.set(r.endpoint.config.port, (counts.get(r.endpoint.config.port) ?? 0) + 1);
  }
  assert.equal(counts.get(1), 100);
  assert.equal(counts.get(2), 200);
  eps[0]!.begin();
  eps[0]!.connectFailed(policy, 0);
  for (let i = 0; i < 10; i++) {
    const r = rr.pick({ now: 50 });
    assert.ok(r.type === 'pick' && r.endpoint.config.port === 2);
  }
});

test('ejection: probe after backoff, one probe at a time, success restores, failure doubles backoff', () => {
  const e = ep(1);
  e.begin();
  e.connectFailed(policy, 0);
  assert.ok(e.ejected);
  assert.ok(!e.available(99));
  assert.ok(e.available(100));
  e.begin(); // the probe
  assert.ok(!e.available(150), 'only one probe in flight');
  e.connectFailed(policy, 150);
  assert.ok(!e.available(300));
  assert.ok(e.available(350), 'backoff doubled to 200 ms');
  e.begin();
  e.succeed(5, 360);
  assert.ok(!e.ejected && e.available(360));
  const none = new RoundRobinPicker([ep(5)]);
  const dead = ep(6);
  dead.begin();
  dead.connectFailed(policy, 0);
  const p = new P2cEwmaPicker([dead]);
  assert.deepEqual(p.pick({ now: 1 }), { type: 'none', total: 1, ejected: 1 });
  assert.equal(none.pick({ now: 0 }).type, 'pick');
});

test('p2c-ewma prefers the faster and less loaded endpoint', () => {
  const fast = ep(1);
  const slow = ep(2);
  fast.observe(1, 0);
  slow.observe(50, 0);
  const p = new P2cEwmaPicker([fast, slow]);
  let fastPicks = 0;
  for (let i = 0; i < 100; i++) {
    const r = p.pick({ now: 0 });
    if (r.type === 'pick' && r.endpoint === fast) fastPicks++;
  }
  assert.equal(fastPicks, 100, 'with two endpoints p2c always compares both');
  for (let i = 0; i < 100; i++) fast.begin();
  const r = p.pick({ now: 0 });
  assert.ok(r.type === 'pick' && r.endpoint === slow, 'load counts');
});

test('ring hash is consistent on the key and moves few keys when an endpoint leaves', () => {
  const eps = [ep(1), ep(2), ep(3), ep(4)];
  const ring = new RingHashPicker(eps);
  const before = new Map<string, number>();
  for (let i = 0; i < 1000; i++) {
    const r = ring.pick({ now: 0, hashKey: `user-${i}` });
    assert.equal(r.type, 'pick');
    if (r.type === 'pick') before.set(`user-${i}`, r.endpoint.config.port);
    const again = ring.pick({ now: 0, hashKey: `user-${i}` });
    assert.ok(again.type === 'pick' && again.endpoint.config.port === before.get(`user-${i}`));
  }
  const spread = new Set(before.values());
  assert.equal(spread.size, 4);
  const ring3 = new RingHashPicker(eps.slice(0, 3));
  let moved = 0;
  for (const [k, port] of before) {
    const r = ring3.pick({ now: 0, hashKey: k });
    if (r.type === 'pick' && r.endpoint.config.port !== port) moved++;
  }
  const lost = [...before.values()].filter((p) => p === 4).length;
  assert.equal(moved, lost, 'only keys of the removed endpoint move');
});

test('a pick is the endpoint\'s one shared, frozen result (no object per request)', () => {
  const eps = [ep(1), ep(2)];
  for (const picker of [new P2cEwmaPicker(eps), new RoundRobinPicker(eps), new RingHashPicker(eps), new P2cEwmaPicker([eps[0]!])]) {
    for (let i = 0; i < 10; i++) {
      const r = picker.pick({ now: 0, hashKey: `k${i}` });
      assert.equal(r.type, 'pick');
      if (r.type === 'pick') {
        assert.equal(r, r.endpoint.picked);
        assert.equal(r.endpoint.picked.type === 'pick' && r.endpoint.picked.endpoint, r.endpoint);
      }
      assert.ok(Object.isFrozen(r));
    }
  }
});
