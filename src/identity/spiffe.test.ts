import { test } from 'node:test';
import assert from 'node:assert/strict';
import { controlPlaneSpiffeId, formatSpiffeId, isSpiffeId, parseSpiffeId, spiffeUrisOfSubjectAltName, trustDomainOf } from './spiffe.ts';
import { hasCode } from '../core/errors.ts';

test('parseSpiffeId accepts workload IDs and returns the parts', () => {
  const id = parseSpiffeId('spiffe://cluster.local/ns/shop/sa/cart');
  assert.deepEqual({ ...id }, { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'cart', uri: 'spiffe://cluster.local/ns/shop/sa/cart' });
});

test('parseSpiffeId refuses malformed IDs with a precise message', () => {
  const bad: Array<[string, RegExp]> = [
    ['http://cluster.local/ns/a/sa/b', /must start with spiffe:\/\//],
    ['spiffe://cluster.local', /path is missing/],
    ['spiffe://Cluster.Local/ns/a/sa/b', /trust domain/],
    ['spiffe://td:8080/ns/a/sa/b', /trust domain/],
    ['spiffe://td/ns/a/sb/b', /\/ns\/<namespace>\/sa\/<service-account>/],
    ['spiffe://td/ns/a/sa/b/extra', /\/ns\/<namespace>\/sa/],
    ['spiffe://td/ns/A/sa/b', /namespace/],
    ['spiffe://td/ns/a/sa/', /service account/],
  ];
  for (const [input, why] of bad) {
    assert.throws(() => parseSpiffeId(input), (e: unknown) => hasCode(e, 'IDENTITY_SPIFFE_ID_INVALID') && why.test((e as Error).message), input);
    assert.equal(isSpiffeId(input), false);
  }
});

test('formatSpiffeId round-trips and validates', () => {
  assert.equal(formatSpiffeId({ trustDomain: 'td', namespace: 'ns1', serviceAccount: 'sa-1' }), 'spiffe://td/ns/ns1/sa/sa-1');
  assert.throws(() => formatSpiffeId({ trustDomain: 'td', namespace: 'bad/ns', serviceAccount: 'x' }), /invalid SPIFFE ID/);
  assert.equal(trustDomainOf('spiffe://a.b/x'), 'a.b');
  assert.equal(trustDomainOf('https://a.b/x'), undefined);
  assert.equal(controlPlaneSpiffeId('td'), 'spiffe://td/ns/weft-system/sa/weft-control');
});

test('spiffeUrisOfSubjectAltName: only spiffe:// URI SANs, in order', () => {
  assert.deepEqual(spiffeUrisOfSubjectAltName(undefined), []);
  assert.deepEqual(spiffeUrisOfSubjectAltName('DNS:a.example, URI:https://x, URI:spiffe://td/ns/a/sa/b'), ['spiffe://td/ns/a/sa/b']);
  assert.deepEqual(spiffeUrisOfSubjectAltName('URI:spiffe://td/ns/a/sa/b, URI:spiffe://td/ns/c/sa/d'), ['spiffe://td/ns/a/sa/b', 'spiffe://td/ns/c/sa/d']);
});
