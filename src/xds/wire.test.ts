import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeDeltaDiscoveryRequest,
  decodeDeltaDiscoveryResponse,
  decodeDiscoveryRequest,
  decodeDiscoveryResponse,
  encodeDeltaAck,
  encodeDeltaDiscoveryResponse,
  encodeDiscoveryResponse,
  encodeRepeatedString,
  encodeSotwAck,
} from './wire.ts';
import { CLUSTER_TYPE_URL, packAny, unpackAny } from './resources.ts';

const big = packAny('envoy.config.cluster.v3.Cluster', { name: 'x'.repeat(300), type: 'EDS' }); // multi-byte lengths
const small = packAny('envoy.config.cluster.v3.Cluster', { name: 'b' });

test('hand-encoded DiscoveryResponse decodes with protobufjs to the same fields', () => {
  const bytes = encodeDiscoveryResponse({ versionInfo: 'v7', typeUrl: CLUSTER_TYPE_URL, nonce: '3.9', resources: [big, small], controlPlaneId: 'weft-cp' });
  const r = decodeDiscoveryResponse(bytes);
  assert.equal(r.version_info, 'v7');
  assert.equal(r.type_url, CLUSTER_TYPE_URL);
  assert.equal(r.nonce, '3.9');
  assert.equal(r.control_plane?.identifier, 'weft-cp');
  assert.deepEqual(
    r.resources.map((a) => unpackAny<{ name: string }>(a).name),
    ['x'.repeat(300), 'b'],
  );
  // The cached per-Any entry gives identical bytes the second time.
  assert.deepEqual(encodeDiscoveryResponse({ versionInfo: 'v7', typeUrl: CLUSTER_TYPE_URL, nonce: '3.9', resources: [big, small], controlPlaneId: 'weft-cp' }), bytes);
});

test('hand-encoded DeltaDiscoveryResponse carries names, versions and removals', () => {
  const bytes = encodeDeltaDiscoveryResponse({
    systemVersionInfo: 's1',
    typeUrl: CLUSTER_TYPE_URL,
    nonce: 'n',
    resources: [{ name: 'big', version: 'h1', resource: big }],
    removed: ['gone', 'also-gone'],
  });
  const r = decodeDeltaDiscoveryResponse(bytes);
  assert.equal(r.system_version_info, 's1');
  assert.equal(r.nonce, 'n');
  assert.deepEqual(r.removed_resources, ['gone', 'also-gone']);
  assert.equal(r.resources[0]!.name, 'big');
  assert.equal(r.resources[0]!.version, 'h1');
  assert.equal(unpackAny<{ name: string }>(r.resources[0]!.resource!).name, 'x'.repeat(300));
});

test('hand-encoded ACK and NACK requests decode as DiscoveryRequest / DeltaDiscoveryRequest', () => {
  const ack = decodeDiscoveryRequest(encodeSotwAck({ versionInfo: '4', typeUrl: CLUSTER_TYPE_URL, nonce: 'n4', resourceNames: encodeRepeatedString(3, ['a', 'b']) }));
  assert.deepEqual([ack.version_info, ack.type_url, ack.response_nonce, ack.resource_names, ack.error_detail], ['4', CLUSTER_TYPE_URL, 'n4', ['a', 'b'], null]);
  const nack = decodeDeltaDiscoveryRequest(encodeDeltaAck({ typeUrl: CLUSTER_TYPE_URL, nonce: 'n5', error: { code: 3, message: 'bad cluster' } }));
  assert.equal(nack.response_nonce, 'n5');
  assert.equal(nack.error_detail?.code, 3);
  assert.equal(nack.error_detail?.message, 'bad cluster');
});

test('readDiscoveryRequest matches the protobufjs decoding, keys names by bytes, and refuses malformed input', async () => {
  const { encodeDiscoveryRequest, readDiscoveryRequest } = await import('./wire.ts');
  const { nodeMessage } = await import('./node.ts');
  const full = encodeDiscoveryRequest({
    version_info: '7',
    node: nodeMessage({ id: 'web-1', metadata: { service: 'web' } }),
    resource_names: ['a', 'b', 'c'],
    type_url: CLUSTER_TYPE_URL,
    response_nonce: 'n7',
    error_detail: { code: 3, message: 'nope' },
  });
  const r = readDiscoveryRequest(full);
  const ref = decodeDiscoveryRequest(full);
  assert.equal(r.version_info, ref.version_info);
  assert.equal(r.type_url, ref.type_url);
  assert.equal(r.response_nonce, ref.response_nonce);
  assert.deepEqual(r.resource_names, ref.resource_names);
  assert.deepEqual(r.error_detail, { code: 3, message: 'nope' });
  assert.equal(r.node?.id, 'web-1');
  const again = readDiscoveryRequest(encodeSotwAck({ versionInfo: '8', typeUrl: CLUSTER_TYPE_URL, nonce: 'n8', resourceNames: encodeRepeatedString(3, ['a', 'b', 'c']) }));
  assert.ok(again.namesKey.equals(r.namesKey), 'same names, same key');
  assert.equal(again.node, null);
  const other = readDiscoveryRequest(encodeSotwAck({ versionInfo: '8', typeUrl: CLUSTER_TYPE_URL, nonce: 'n8', resourceNames: encodeRepeatedString(3, ['a', 'b']) }));
  assert.ok(!other.namesKey.equals(r.namesKey));
  assert.throws(() => readDiscoveryRequest(Buffer.from([0x22, 0x05, 0x41])), /runs past the end/);
  assert.throws(() => readDiscoveryRequest(Buffer.from([0x7f, 0x00])), /invalid wire type 7/);
});
