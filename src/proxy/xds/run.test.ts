import { test } from 'node:test';
import assert from 'node:assert/strict';
import { untilConfigured } from './run.ts';
import { AWAITING_CONTROL_PLANE_VERSION, type ProxyConfigSpec } from '../runtime/spec.ts';

const base = (mtlsMode: 'STRICT' | 'PERMISSIVE' | 'DISABLED'): ProxyConfigSpec =>
  ({ workload: { name: 'catalog', trustDomain: 'td.example', inbound: { mtlsMode, ports: [{ port: 8080, protocol: 'http1' }] } }, listeners: { inbound: { address: '127.0.0.1', port: 0 } } }) as ProxyConfigSpec;

test('before the first xDS config the inbound refuses every peer, and strict mTLS stands even if the bootstrap says permissive', () => {
  for (const mode of ['STRICT', 'PERMISSIVE'] as const) {
    const s = untilConfigured(base(mode));
    assert.equal(s.workload.inbound!.mtlsMode, 'STRICT');
    assert.deepEqual(s.workload.inbound!.allowedPeers, ['spiffe://td.example/ns/weft-system/sa/weft-no-config-yet']);
    assert.deepEqual(s.workload.inbound!.ports, base(mode).workload.inbound!.ports, 'app ports kept (they are bound now)');
  }
  const disabled = base('DISABLED');
  assert.deepEqual(untilConfigured(disabled).workload, disabled.workload, 'mTLS disabled by the operator: left alone');
  assert.equal(untilConfigured(disabled).version, AWAITING_CONTROL_PLANE_VERSION, 'still marked as waiting, so /ready says 503');
});
