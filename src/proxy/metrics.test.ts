import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyMetrics } from './metrics.ts';

test('requests are counted by direction and status, latency observed per direction (only directions used)', () => {
  const m = new ProxyMetrics();
  m.request('outbound', 200, 0.001);
  m.request('outbound', 200, 0.002);
  m.request('outbound', 503, 0.5);
  let text = m.registry.expose();
  assert.match(text, /weft_proxy_requests_total\{direction="outbound",status="200"\} 2\n/);
  assert.match(text, /weft_proxy_requests_total\{direction="outbound",status="503"\} 1\n/);
  assert.match(text, /weft_proxy_request_duration_seconds_count\{direction="outbound"\} 3\n/);
  assert.doesNotMatch(text, /direction="inbound"/);
  m.request('inbound', 200, 0.003);
  text = m.registry.expose();
  assert.match(text, /weft_proxy_requests_total\{direction="inbound",status="200"\} 1\n/);
  assert.match(text, /weft_proxy_request_duration_seconds_count\{direction="inbound"\} 1\n/);
  assert.match(text, /weft_proxy_request_duration_seconds_count\{direction="outbound"\} 3\n/);
});
