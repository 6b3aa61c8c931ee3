import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsRegistry } from './metrics.ts';

test('counters expose labelled values and refuse to go down', () => {
  const registry = new MetricsRegistry();
  const requests = registry.counter({ name: 'weft_requests_total', help: 'Requests.', labelNames: ['code', 'dst'] });
  requests.inc({ code: 200, dst: 'a"b' });
  const bound = requests.bind({ code: 503, dst: 'x' });
  bound.inc();
  bound.inc(2);
  assert.equal(requests.get({ code: 503, dst: 'x' }), 3);
  assert.throws(() => requests.inc({ code: 200, dst: 'a' }, -1), /only go up/);
  assert.throws(() => requests.inc({ code: 200 }), /missing label dst/);
  const text = registry.expose();
  assert.match(text, /# TYPE weft_requests_total counter/);
  assert.match(text, /weft_requests_total\{code="200",dst="a\\"b"\} 1/);
  assert.match(text, /weft_requests_total\{code="503",dst="x"\} 3/);
});

test('gauges set, add and sample on collect', () => {
  const registry = new MetricsRegistry();
  let sampled = 0;
  const g = registry.gauge({ name: 'weft_connections', help: 'Open connections.' });
  g.onCollect(() => g.set(undefined, ++sampled));
  assert.match(registry.expose(), /weft_connections 1/);
  assert.match(registry.expose(), /weft_connections 2/);
});

test('histograms expose cumulative buckets, sum and count', () => {
  const registry = new MetricsRegistry();
  const h = registry.histogram({ name: 'weft_latency_seconds', help: 'Latency.', labelNames: ['dst'], buckets: [0.1, 1] });
  h.observe({ dst: 'a' }, 0.05);
  h.observe({ dst: 'a' }, 0.5);
  h.bind({ dst: 'a' }).observe(5);
  const text = registry.expose();
  assert.match(text, /weft_latency_seconds_bucket\{dst="a",le="0.1"\} 1/);
  assert.match(text, /weft_latency_seconds_bucket\{dst="a",le="1"\} 2/);
  assert.match(text, /weft_latency_seconds_bucket\{dst="a",le="\+Inf"\} 3/);
  assert.match(text, /weft_latency_seconds_sum\{dst="a"\} 5.55/);
  assert.match(text, /weft_latency_seconds_count\{dst="a"\} 3/);
  assert.deepEqual(h.snapshot({ dst: 'a' }).buckets, [[0.1, 1], [1, 2]]);
});

test('registering a name twice returns the same metric or refuses a type clash', () => {
  const registry = new MetricsRegistry();
  const a = registry.counter({ name: 'x_total', help: 'x' });
  assert.equal(registry.counter({ name: 'x_total', help: 'x' }), a);
  assert.throws(() => registry.gauge({ name: 'x_total', help: 'x' }), /another type/);
  assert.throws(() => registry.counter({ name: 'bad name', help: 'x' }), /invalid metric name/);
});
