import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Watch } from '../core/watch.ts';
import { clientTlsOptions, createSpiffeServer, secureContextFor } from './tls.ts';
import type { IdentityMaterial } from './material.ts';
import { makeForeignIdentity, makeTestPki, makeUnknownRootIdentity, withBundle } from '../../test/support/pki.ts';

async function withServer(material: IdentityMaterial, allowedPeers: Parameters<typeof createSpiffeServer>[1]['allowedPeers'], fn: (port: number, seen: string[]) => Promise<void>) {
  const seen: string[] = [];
  const server = createSpiffeServer(new Watch<IdentityMaterial | undefined>(material), { allowedPeers }, (socket, peer) => {
    seen.push(peer.uri);
    socket.end('hello ' + peer.uri);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn((server.address() as AddressInfo).port, seen);
  } finally {
    await new Promise((r) => server.close(r));
  }
}

function connect(port: number, options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => (data += d));
    socket.on('end', () => (data ? resolve(data) : reject(new Error('closed without data'))));
    socket.on('close', () => (data ? resolve(data) : reject(new Error('closed without data'))));
    socket.on('error', reject);
  });
}

test('mTLS handshake between two weft identities checks SPIFFE IDs both ways', async () => {
  const pki = await makeTestPki({ trustDomain: 'td.local' });
  const server = await pki.issue('default/server');
  const client = await pki.issue('default/client');
  await withServer(server, { ids: ['spiffe://td.local/ns/default/sa/client'] }, async (port, seen) => {
    const reply = await connect(port, clientTlsOptions(client, { expectedPeer: 'spiffe://td.local/ns/default/sa/server' }));
    assert.equal(reply, 'hello spiffe://td.local/ns/default/sa/client');
    assert.deepEqual(seen, ['spiffe://td.local/ns/default/sa/client']);
    // client expecting a different server identity refuses
    await assert.rejects(connect(port, clientTlsOptions(client, { expectedPeer: 'spiffe://td.local/ns/default/sa/other' })), /peer is spiffe:\/\/td.local\/ns\/default\/sa\/server/);
    // a client the server's policy does not allow is cut off after the handshake
    const stranger = await pki.issue('default/stranger');
    await assert.rejects(connect(port, clientTlsOptions(stranger)));
    assert.equal(seen.length, 1);
  });
  assert.equal(secureContextFor(client), secureContextFor(client), 'SecureContext is cached per material');
});

test('peers from another trust domain, with an expired certificate, or under an unknown root are refused', async () => {
  const pki = await makeTestPki({ trustDomain: 'td.local' });
  const server = await pki.issue('default/server');
  const foreign = await makeForeignIdentity('default/intruder', 'other.example');
  const expired = await pki.issueExpired('default/old');
  const unknown = await makeUnknownRootIdentity('default/client', 'td.local');
  await withServer(server, undefined, async (port, seen) => {
    // foreign trust domain, even when its root is trusted by the client's bundle
    await assert.rejects(connect(port, clientTlsOptions(withBundle(foreign, foreign.trustBundlePem + pki.bundlePem))));
    await assert.rejects(connect(port, clientTlsOptions(withBundle(expired, pki.bundlePem))));
    await assert.rejects(connect(port, clientTlsOptions(withBundle(unknown, pki.bundlePem))));
    assert.deepEqual(seen, []);
  });
  // the client refuses a server from another trust domain even if it trusts that root
  const foreignServer = await makeForeignIdentity('default/server', 'other.example');
  const client = await pki.issue('default/client');
  await withServer(withBundle(foreignServer, foreignServer.trustBundlePem + pki.bundlePem), { trustDomain: 'td.local' }, async (port) => {
    await assert.rejects(connect(port, clientTlsOptions(withBundle(client, pki.bundlePem + foreignServer.trustBundlePem))), /trust domain "other.example", expected "td.local"/);
  });
});
