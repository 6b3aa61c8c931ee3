import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readiness } from './server.ts';
import { compileSnapshot, type RuntimeSnapshot } from '../runtime/snapshot.ts';
import { untilConfigured } from '../xds/run.ts';
import type { ProxyConfigSpec } from '../runtime/spec.ts';
import type { WeftProxy } from '../proxy.ts';

const spec: ProxyConfigSpec = {
  workload: { name: 'web', inbound: { mtlsMode: 'DISABLED', ports: [{ port: 8080, protocol: 'http1' }] } },
  listeners: { outbound: { address: '127.0.0.1', port: 0 }, inbound: { address: '127.0.0.1', port: 0 }, admin: null },
};

function snapshot(s: ProxyConfigSpec): RuntimeSnapshot {
  const r = compileSnapshot(s);
  if (!r.ok) throw r.error;
  return r.value;
}

/** The fields readiness() reads, for a proxy in a given state (a unit test of one layer). */
function proxyWith(s: RuntimeSnapshot, draining = false): WeftProxy {
  return { draining, snapshot: s, ctx: { identity: undefined } } as unknown as WeftProxy;
}

test('a controlled proxy is not ready until its first configuration arrives', () => {
  const waiting = readiness(proxyWith(snapshot(untilConfigured(spec))));
  assert.equal(waiting.ready, false);
  assert.deepEqual(waiting.reasons, ['waiting for the first configuration from the control plane']);
  const configured = readiness(proxyWith(snapshot({ ...spec, version: '1.1.1.1' })));
  assert.deepEqual(configured, { ready: true, reasons: [] });
});

test('a draining proxy is not ready', () => {
  assert.deepEqual(readiness(proxyWith(snapshot(spec), true)), { ready: false, reasons: ['draining'] });
});
