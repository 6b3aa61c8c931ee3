// ADS transport end to end: weft's ADS server and client over real gRPC with mTLS on 127.0.0.1,
// in both State of the World and Delta modes. Resources are hand-written (no compiler involved).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { makeTestPki, type TestIdentity } from '../support/pki.ts';
import { apiListener, edsCluster, loadAssignment, route, routeConfig, snapshotOf, type ResourceLists } from '../support/xds-resources.ts';
import { SnapshotCache, addAdsService, xdsServerCredentials, type AdsHooks, type AdsNack, type AdsPush, type AdsServer, type AdsStreamInfo } from '../../src/xds/server.ts';
import { AdsClient, type AdsClientOptions, type XdsResourceSet } from '../../src/xds/client.ts';
import { XDS_TYPE_URLS } from '../../src/xds/resources.ts';
import { eventually } from '../support/wait.ts';

const pki = await makeTestPki();
const controlId = await pki.issue('spiffe://test.local/ns/weft-system/sa/control-plane');
const webId = await pki.issue('default/web');

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

interface Started {
  server: grpc.Server;
  ads: AdsServer;
  cache: SnapshotCache;
  port: number;
  events: { pushes: AdsPush[]; nacks: AdsNack[]; acks: Array<{ typeUrl: string; version: string; latencyMs: number | undefined }>; opened: AdsStreamInfo[]; closed: string[] };
  stop(): void;
}

async function startServer(options: { port?: number; cache?: SnapshotCache; hooks?: AdsHooks } = {}): Promise<Started> {
  const server = new grpc.Server();
  const cache = options.cache ?? new SnapshotCache();
  const events: Started['events'] = { pushes: [], nacks: [], acks: [], opened: [], closed: [] };
  const ads = addAdsService(server, cache, {
    onPush: (_i, p) => events.pushes.push(p),
    onNack: (_i, n) => events.nacks.push(n),
    onAck: (_i, a) => events.acks.push(a),
    onStreamOpen: (i) => events.opened.push(i),
    onStreamClose: (_i, reason) => events.closed.push(reason),
    ...options.hooks,
  });
  const creds = xdsServerCredentials({ certChainPem: controlId.certChainPem, keyPem: controlId.keyPem, trustBundlePem: pki.bundlePem });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, creds, (e, p) => (e ? reject(e) : resolve(p))),
  );
  const stop = (): void => server.forceShutdown();
  cleanups.push(stop);
  return { server, ads, cache, port, events, stop };
}

function startClient(port: number, opts: Partial<AdsClientOptions> & { identity?: TestIdentity; id?: string } = {}): { client: AdsClient; applied: XdsResourceSet[] } {
  const applied: XdsResourceSet[] = [];
  const identity = opts.identity ?? webId;
  const client = new AdsClient({
    target: `127.0.0.1:${port}`,
    tls: { caPem: pki.bundlePem, certChainPem: identity.certChainPem, keyPem: identity.keyPem, serverSpiffeId: 'spiffe://test.local/ns/weft-system/sa/control-plane' },
    node: { id: opts.id ?? 'web-1', metadata: { service: 'web', namespace: 'default' } },
    backoff: { initialMs: 50, maxMs: 400 },
    apply: (set) => applied.push(set),
    ...opts,
  });
  client.start();
  cleanups.push(() => client.stop());
  return { client, applied };
}

function baseResources(backendPort = 9001): ResourceLists {
  return {
    listeners: [apiListener('web', 'web-routes')],
    routes: [routeConfig('web-routes', [route([{ cluster: 'a', weight: 80 }, { cluster: 'b', weight: 20 }])])],
    clusters: [edsCluster('a'), edsCluster('b')],
    endpoints: [loadAssignment('a', [{ address: '127.0.0.1', port: backendPort }]), loadAssignment('b', [{ address: '127.0.0.1', port: 9002 }])],
  };
}



for (const mode of ['sotw', 'delta'] as const) {
  test(`${mode}: initial sync over mTLS delivers one complete set, and the server sees node, SPIFFE ID and ACKs`, async () => {
    const s = await startServer();
    s.cache.setSnapshot('web-1', snapshotOf('1', baseResources()));
    const { client, applied } = startClient(s.port, { mode });
    await eventually(() => applied.length > 0, 'first apply');
    const set = applied[0]!;
    assert.deepEqual([...set.listeners.keys()], ['web']);
    assert.deepEqual([...set.routes.keys()], ['web-routes']);
    assert.deepEqual([...set.clusters.keys()].sort(), ['a', 'b']);
    assert.deepEqual([...set.endpoints.keys()].sort(), ['a', 'b']);
    assert.deepEqual(set.versions, { LDS: '1', RDS: '1', CDS: '1', EDS: '1' });
    assert.equal(set.endpoints.get('a')!.endpoints[0]!.lb_endpoints[0]!.endpoint!.address!.socket_address!.port_value, 9001);
    assert.equal(applied.length, 1, 'never applied a partial set');
    assert.equal(s.events.opened[0]!.node.id, 'web-1');
    assert.equal(s.events.opened[0]!.node.metadata.service, 'web');
    assert.equal(s.events.opened[0]!.spiffeId, webId.spiffeId);
    await eventually(() => s.ads.streams()[0]?.types[XDS_TYPE_URLS.RDS]?.ackedVersion === '1', 'RDS acked');
    const status = s.ads.streams()[0]!;
    assert.equal(status.mode, mode);
    for (const t of Object.values(XDS_TYPE_URLS).filter((u) => u !== XDS_TYPE_URLS.SDS)) assert.equal(status.types[t]?.ackedVersion, '1', t);
    assert.equal(status.types[XDS_TYPE_URLS.LDS]!.subscribed, '*');
    assert.deepEqual(status.types[XDS_TYPE_URLS.RDS]!.subscribed, ['web-routes']);
    assert.equal(client.state.current.connected, true);
    assert.equal(s.ads.counters.nacks, 0);
    // The control plane can end one stream; the client reconnects and resyncs.
    assert.equal(s.ads.disconnect(status.id, 'test disconnect'), true);
    assert.equal(s.ads.disconnect(999_999, 'no such stream'), false);
    await eventually(() => s.ads.streams().length === 1 && s.ads.streams()[0]!.id !== status.id, 'reconnected after disconnect');
    assert.ok(s.events.closed.some((r) => /test disconnect/.test(r)));
    assert.equal(client.current, set, 'config kept across the reconnect');
    client.stop();
    s.stop();
  });

  test(`${mode}: an endpoint-only change pushes only EDS`, async () => {
    const s = await startServer();
    s.cache.setSnapshot('web-1', snapshotOf('1', baseResources(9001)));
    const { client, applied } = startClient(s.port, { mode });
    await eventually(() => applied.length === 1, 'first apply');
    await eventually(() => s.ads.streams()[0]?.types[XDS_TYPE_URLS.RDS]?.pending === false, 'initial acks');
    const before = s.events.pushes.length;
    s.cache.setSnapshot('web-1', snapshotOf({ LDS: '1', RDS: '1', CDS: '1', EDS: '2' }, baseResources(9009)));
    await eventually(() => applied.length === 2, 'second apply');
    const pushed = s.events.pushes.slice(before);
    assert.deepEqual(
      pushed.map((p) => p.typeUrl),
      [XDS_TYPE_URLS.EDS],
    );
    // Delta, and SotW for EDS (omission is not deletion there), send only the changed assignment.
    assert.equal(pushed[0]!.resources, 1, 'only the changed assignment is sent');
    assert.deepEqual([...applied[1]!.endpoints.keys()].sort(), ['a', 'b'], 'the unchanged assignment is kept');
    assert.equal(applied[1]!.endpoints.get('a')!.endpoints[0]!.lb_endpoints[0]!.endpoint!.address!.socket_address!.port_value, 9009);
    assert.equal(applied[1]!.versions.EDS, '2');
    // Unchanged resources keep their identity, so a proxy can rebuild only what changed.
    assert.equal(applied[1]!.endpoints.get('b'), applied[0]!.endpoints.get('b'));
    assert.notEqual(applied[1]!.endpoints.get('a'), applied[0]!.endpoints.get('a'));
    assert.equal(applied[1]!.clusters.get('a'), applied[0]!.clusters.get('a'));
    assert.equal(applied[1]!.listeners.get('web'), applied[0]!.listeners.get('web'));
    client.stop();
    s.stop();
  });

  test(`${mode}: a NACKed version is not resent, the last good set stays, and a newer version is sent`, async () => {
    const s = await startServer();
    s.cache.setSnapshot('web-1', snapshotOf('1', baseResources()));
    const { client, applied } = startClient(s.port, {
      mode,
      apply: (set, previous) => {
        assert.equal(previous, applied.at(-1), 'apply is told the set it replaces');
        for (const c of set.clusters.values()) if (c.connect_timeout && Number(c.connect_timeout.seconds) > 60) throw new Error(`cluster ${c.name}: connect timeout too long`);
        applied.push(set);
      },
    });
    await eventually(() => applied.length === 1, 'first apply');
    const bad = baseResources();
    // The refused response also changes b (a valid change, rejected with the whole response).
    bad.clusters = [edsCluster('a', { connect_timeout: { seconds: 600 } }), edsCluster('b', { lb_policy: 'LEAST_REQUEST' })];
    s.cache.setSnapshot('web-1', snapshotOf({ LDS: '1', RDS: '1', CDS: '2', EDS: '1' }, bad));
    await eventually(() => s.events.nacks.length === 1, 'NACK at the server');
    const nack = s.events.nacks[0]!;
    assert.equal(nack.typeUrl, XDS_TYPE_URLS.CDS);
    assert.equal(nack.rejectedVersion, '2');
    assert.match(nack.message, /cluster a: connect timeout too long/);
    assert.equal(client.state.current.lastNack?.type, 'CDS');
    assert.equal(client.current, applied[0], 'last good set still in force');
    const cdsStatus = s.ads.streams()[0]!.types[XDS_TYPE_URLS.CDS]!;
    assert.equal(cdsStatus.ackedVersion, '1');
    assert.equal(cdsStatus.lastNack?.rejectedVersion, '2');
    // Unrelated pushes and time must not make the server resend CDS version 2.
    const cdsPushes = () => s.events.pushes.filter((p) => p.typeUrl === XDS_TYPE_URLS.CDS).length;
    const cdsBefore = cdsPushes();
    const edsPushes = () => s.events.pushes.filter((p) => p.typeUrl === XDS_TYPE_URLS.EDS).length;
    const edsBefore = edsPushes();
    s.cache.setSnapshot('web-1', snapshotOf({ LDS: '1', RDS: '1', CDS: '2', EDS: '3' }, { ...bad, endpoints: baseResources(9003).endpoints }));
    // The positive signal that the server processed that snapshot: its EDS change went out (CDS is
    // ordered before EDS, so a resent CDS would already be among the pushes).
    await eventually(() => edsPushes() > edsBefore, 'the unrelated EDS change pushed');
    assert.equal(cdsPushes(), cdsBefore, `NACKed version not resent: ${JSON.stringify(s.events.pushes.map((p) => [p.typeUrl.split('.').pop(), p.version, p.resources, p.removed]))}`);
    assert.equal(s.events.nacks.length, 1);
    // A newer, good version goes out and is applied.
    const fixed = { ...baseResources(9003), clusters: [edsCluster('a', { connect_timeout: { seconds: 5 } }), edsCluster('b', { lb_policy: 'LEAST_REQUEST' })] };
    s.cache.setSnapshot('web-1', snapshotOf({ LDS: '1', RDS: '1', CDS: '3', EDS: '3' }, fixed));
    await eventually(() => client.current?.versions.CDS === '3', 'fixed version applied');
    assert.equal(cdsPushes(), cdsBefore + 1);
    // b did not change between the refused version and the fixed one, but the client never accepted
    // it: the newer version must carry it again (delta too, where versions are per resource).
    assert.equal(client.current!.clusters.get('b')!.lb_policy, 'LEAST_REQUEST');
    assert.equal(Number(client.current!.clusters.get('a')!.connect_timeout!.seconds), 5);
    await eventually(() => s.ads.streams()[0]!.types[XDS_TYPE_URLS.CDS]!.ackedVersion === '3', 'CDS 3 acked');
    client.stop();
    s.stop();
  });

  test(`${mode}: reconnects with backoff after the control plane restarts, keeping its config meanwhile`, async () => {
    const s1 = await startServer();
    const snapshot = snapshotOf('1', baseResources());
    s1.cache.setSnapshot('web-1', snapshot);
    const { client, applied } = startClient(s1.port, { mode });
    await eventually(() => applied.length === 1, 'first apply');
    s1.stop();
    await eventually(() => !client.state.current.connected, 'disconnect noticed');
    await eventually(() => client.state.current.reconnects >= 2, 'retried with backoff');
    assert.equal(client.current, applied[0], 'last config kept while the control plane is down');
    const s2 = await startServer({ port: s1.port });
    s2.cache.setSnapshot('web-1', snapshot);
    await eventually(() => client.state.current.connected && s2.ads.streams().length === 1, 'reconnected', 8000);
    if (mode === 'delta') {
      // Resumed with initial_resource_versions: unchanged resources are not sent again. The positive
      // signal that the resume was processed: the server knows the stream's subscriptions to all four types.
      await eventually(() => {
        const types = s2.ads.streams()[0]?.types ?? {};
        return [XDS_TYPE_URLS.LDS, XDS_TYPE_URLS.RDS, XDS_TYPE_URLS.CDS, XDS_TYPE_URLS.EDS].every((t) => types[t] !== undefined);
      }, 'the resumed subscriptions processed');
      assert.equal(s2.ads.counters.resourcesSent, 0, 'nothing resent after restart with the same config');
    }
    s2.cache.setSnapshot('web-1', snapshotOf('2', baseResources(9005)));
    await eventually(() => client.current?.versions.EDS === '2', 'converged after restart');
    assert.equal(client.current!.endpoints.get('a')!.endpoints[0]!.lb_endpoints[0]!.endpoint!.address!.socket_address!.port_value, 9005);
    client.stop();
    s2.stop();
  });
}

for (const mode of ['sotw', 'delta'] as const) {
  test(`${mode}: a removed cluster is withdrawn only after the routes that used it are updated and ACKed`, async () => {
    const s = await startServer();
    s.cache.setSnapshot('web-1', snapshotOf('1', baseResources()));
    const { client, applied } = startClient(s.port, { mode });
    await eventually(() => applied.length === 1, 'first apply');
    await eventually(() => Object.values(s.ads.streams()[0]!.types).every((t) => !t.pending), 'initial acks');
    const mark = s.events.pushes.length;
    // v2: the route sends everything to b, and cluster a (and its endpoints) are gone.
    s.cache.setSnapshot(
      'web-1',
      snapshotOf({ LDS: '1', RDS: '2', CDS: '2', EDS: '2' }, {
        listeners: [apiListener('web', 'web-routes')],
        routes: [routeConfig('web-routes', [route('b')])],
        clusters: [edsCluster('b')],
        endpoints: [loadAssignment('b', [{ address: '127.0.0.1', port: 9002 }])],
      }),
    );
    await eventually(() => client.current?.clusters.size === 1 && client.current.versions.RDS === '2', 'converged');
    const pushes = s.events.pushes.slice(mark);
    const rdsAt = pushes.findIndex((p) => p.typeUrl === XDS_TYPE_URLS.RDS);
    const cdsRemovalAt = pushes.findIndex((p) => p.typeUrl === XDS_TYPE_URLS.CDS && (mode === 'delta' ? p.removed === 1 : p.resources === 1));
    assert.ok(rdsAt >= 0 && cdsRemovalAt > rdsAt, `cluster removal (${cdsRemovalAt}) after the route update (${rdsAt}): ${pushes.map((p) => `${p.typeUrl.split('.').pop()}:${p.resources}/${p.removed}`).join(' ')}`);
    if (mode === 'sotw') {
      const firstCds = pushes.find((p) => p.typeUrl === XDS_TYPE_URLS.CDS)!;
      assert.equal(firstCds.resources, 2, 'first CDS push still carries the removed cluster');
    }
    // Every set the proxy applied was consistent, and the final one has no trace of a.
    for (const set of applied) for (const rc of set.routes.values()) for (const vh of rc.virtual_hosts) for (const r of vh.routes) {
      const targets = r.route!.cluster ? [r.route!.cluster] : r.route!.weighted_clusters!.clusters.map((c) => c.name);
      for (const t of targets) assert.ok(set.clusters.has(t), `route to ${t} with cluster present`);
    }
    assert.deepEqual([...client.current!.clusters.keys()], ['b']);
    assert.deepEqual([...client.current!.endpoints.keys()], ['b']);
    // b came again in full SotW CDS responses but never changed: not decoded again, same object.
    assert.equal(client.current!.clusters.get('b'), applied[0]!.clusters.get('b'));
    client.stop();
    s.stop();
  });
}

test('delta: following references subscribes and unsubscribes RDS/EDS names; removals arrive as removed_resources', async () => {
  const s = await startServer();
  s.cache.setSnapshot('web-1', snapshotOf('1', baseResources()));
  const { client } = startClient(s.port, { mode: 'delta' });
  await eventually(() => client.current !== undefined, 'first apply');
  // Point the listener at another route config that uses only cluster b; drop cluster a.
  const next: ResourceLists = {
    listeners: [apiListener('web', 'web-routes-v2')],
    routes: [routeConfig('web-routes', [route('a')]), routeConfig('web-routes-v2', [route('b')])],
    clusters: [edsCluster('b')],
    endpoints: [loadAssignment('a', [{ address: '127.0.0.1', port: 9001 }]), loadAssignment('b', [{ address: '127.0.0.1', port: 9002 }])],
  };
  s.cache.setSnapshot('web-1', snapshotOf('2', next));
  await eventually(() => client.current?.routes.has('web-routes-v2') === true && client.current.clusters.size === 1, 'new set');
  const set = client.current!;
  assert.deepEqual([...set.routes.keys()], ['web-routes-v2']);
  assert.deepEqual([...set.clusters.keys()], ['b']);
  assert.deepEqual([...set.endpoints.keys()], ['b']);
  await eventually(() => {
    const t = s.ads.streams()[0]!.types;
    return (t[XDS_TYPE_URLS.RDS]!.subscribed as string[]).join() === 'web-routes-v2' && (t[XDS_TYPE_URLS.EDS]!.subscribed as string[]).join() === 'b';
  }, 'server sees unsubscriptions');
  const cdsPush = s.events.pushes.filter((p) => p.typeUrl === XDS_TYPE_URLS.CDS).at(-1)!;
  assert.equal(cdsPush.removed, 1, 'cluster a removed via removed_resources');
  assert.equal(cdsPush.resources, 0, 'cluster b unchanged, not resent');
  client.stop();
  s.stop();
});

test('the server holds LDS/RDS until the client ACKs CDS/EDS of the same update (make before break)', async () => {
  const s = await startServer();
  s.cache.setSnapshot('web-1', snapshotOf('1', baseResources()));
  let gate: (() => void) | undefined;
  const { client } = startClient(s.port, { mode: 'sotw' });
  await eventually(() => client.current !== undefined, 'first apply');
  await eventually(() => Object.values(s.ads.streams()[0]!.types).every((t) => !t.pending), 'all acked');
  // Raw stream that never ACKs: after CDS it must receive nothing later in the order.
  const raw = new grpc.Client(`127.0.0.1:${s.port}`, grpc.credentials.createSsl(Buffer.from(pki.bundlePem), Buffer.from(webId.keyPem), Buffer.from(webId.certChainPem), { checkServerIdentity: () => undefined }));
  cleanups.push(() => raw.close());
  const { encodeDiscoveryRequest, decodeDiscoveryResponse } = await import('../../src/xds/wire.ts');
  const call = raw.makeBidiStreamRequest('/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', encodeDiscoveryRequest, decodeDiscoveryResponse);
  const got: string[] = [];
  call.on('data', (r: { type_url: string }) => {
    got.push(r.type_url);
    gate?.();
  });
  call.on('error', () => {});
  call.write({ node: { id: 'web-1' }, type_url: XDS_TYPE_URLS.LDS, resource_names: [] });
  call.write({ type_url: XDS_TYPE_URLS.CDS, resource_names: [] });
  await eventually(() => got.length >= 2, 'the first two responses');
  // LDS was requested first and nothing was pending, so LDS came; then CDS (not blocked by LDS, which is later in the order).
  assert.deepEqual(got, [XDS_TYPE_URLS.LDS, XDS_TYPE_URLS.CDS]);
  // Now an update of CDS and LDS together: CDS goes first, LDS waits for the CDS ACK.
  // ACK the initial LDS/CDS first so nothing is pending.
  call.write({ type_url: XDS_TYPE_URLS.LDS, version_info: '1', response_nonce: (s.ads.streams().find((x) => x.node.id === 'web-1' && x.types[XDS_TYPE_URLS.LDS]?.pending)?.types[XDS_TYPE_URLS.LDS]!.sentNonce) ?? '' });
  const rawStatus = () => s.ads.streams().find((x) => x.types[XDS_TYPE_URLS.CDS]?.pending && !x.types[XDS_TYPE_URLS.RDS]);
  const cdsNonce = rawStatus()?.types[XDS_TYPE_URLS.CDS]!.sentNonce ?? '';
  call.write({ type_url: XDS_TYPE_URLS.CDS, version_info: '1', response_nonce: cdsNonce });
  await eventually(() => !rawStatus(), 'the raw stream\'s ACKs processed');
  got.length = 0;
  s.cache.setSnapshot('web-1', snapshotOf('2', { ...baseResources(), listeners: [apiListener('web', 'web-routes'), apiListener('api', 'web-routes')], clusters: [edsCluster('a'), edsCluster('b'), edsCluster('c')] }));
  // The server decides in a microtask after the snapshot is set: by the next macrotask it has written
  // whatever it sends now, so the first response that arrives is the whole of it.
  await new Promise((r) => setImmediate(r));
  await eventually(() => got.length >= 1, 'the CDS update');
  assert.deepEqual(got, [XDS_TYPE_URLS.CDS], 'only CDS while its ACK is outstanding');
  const nonce2 = s.ads.streams().find((x) => x.types[XDS_TYPE_URLS.CDS]?.sentVersion === '2' && !x.types[XDS_TYPE_URLS.RDS])!.types[XDS_TYPE_URLS.CDS]!.sentNonce!;
  call.write({ type_url: XDS_TYPE_URLS.CDS, version_info: '2', response_nonce: nonce2 });
  await eventually(() => got.length === 2, 'LDS after the CDS ACK');
  assert.deepEqual(got, [XDS_TYPE_URLS.CDS, XDS_TYPE_URLS.LDS]);
  call.cancel();
  client.stop();
  s.stop();
});

test('named SotW subscriptions get only what they name; stale nonces are ignored', async () => {
  const s = await startServer();
  s.cache.setSnapshot('n', snapshotOf('1', { ...baseResources(), listeners: [apiListener('web', 'web-routes'), apiListener('api', 'api-routes')] }));
  const raw = new grpc.Client(`127.0.0.1:${s.port}`, grpc.credentials.createSsl(Buffer.from(pki.bundlePem), Buffer.from(webId.keyPem), Buffer.from(webId.certChainPem), { checkServerIdentity: () => undefined }));
  cleanups.push(() => raw.close());
  const { encodeDiscoveryRequest, decodeDiscoveryResponse } = await import('../../src/xds/wire.ts');
  const { unpackAny } = await import('../../src/xds/resources.ts');
  const call = raw.makeBidiStreamRequest('/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', encodeDiscoveryRequest, decodeDiscoveryResponse);
  const got: Array<{ version_info: string; nonce: string; resources: Array<{ type_url: string; value: Buffer }> }> = [];
  call.on('data', (r: (typeof got)[number]) => got.push(r));
  call.on('error', () => {});
  call.write({ node: { id: 'n' }, type_url: XDS_TYPE_URLS.LDS, resource_names: ['api'] });
  await eventually(() => got.length === 1, 'named LDS response');
  assert.deepEqual(
    got[0]!.resources.map((a) => unpackAny<{ name: string }>(a).name),
    ['api'],
  );
  // A request carrying an old nonce (stale) must not trigger anything, even with new names.
  // (This server has only this stream, so its counters are this stream's.)
  const requestsBefore = s.ads.counters.requests;
  const pushesBefore = s.ads.counters.pushes;
  call.write({ type_url: XDS_TYPE_URLS.LDS, version_info: '', response_nonce: 'stale-nonce', resource_names: ['api', 'web'] });
  // Positive signal first: the server handled that request (a push would follow within a microtask).
  await eventually(() => s.ads.counters.requests > requestsBefore, 'the stale request handled');
  await new Promise((r) => setImmediate(r));
  assert.equal(s.ads.counters.pushes, pushesBefore, 'no response to a stale nonce');
  assert.equal(got.length, 1);
  // With the current nonce, adding a name gets a response with both.
  call.write({ type_url: XDS_TYPE_URLS.LDS, version_info: '1', response_nonce: got[0]!.nonce, resource_names: ['api', 'web'] });
  await eventually(() => got.length === 2, 'second response');
  assert.deepEqual(got[1]!.resources.map((a) => unpackAny<{ name: string }>(a).name).sort(), ['api', 'web']);
  call.cancel();
  s.stop();
});

test('one response per type in flight: versions set while a client has not ACKed coalesce into the latest', async () => {
  const s = await startServer();
  s.cache.setSnapshot('slow', snapshotOf('1', baseResources()));
  const raw = new grpc.Client(`127.0.0.1:${s.port}`, grpc.credentials.createSsl(Buffer.from(pki.bundlePem), Buffer.from(webId.keyPem), Buffer.from(webId.certChainPem), { checkServerIdentity: () => undefined }));
  cleanups.push(() => raw.close());
  const { encodeDiscoveryRequest, decodeDiscoveryResponse } = await import('../../src/xds/wire.ts');
  const call = raw.makeBidiStreamRequest('/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', encodeDiscoveryRequest, decodeDiscoveryResponse);
  const got: Array<{ version_info: string; nonce: string; type_url: string }> = [];
  call.on('data', (r: (typeof got)[number]) => got.push(r));
  call.on('error', () => {});
  call.write({ node: { id: 'slow' }, type_url: XDS_TYPE_URLS.EDS, resource_names: ['a', 'b'] });
  await eventually(() => got.length === 1, 'first EDS');
  const pushesBefore = s.ads.counters.pushes;
  for (let v = 2; v <= 6; v++) s.cache.setSnapshot('slow', snapshotOf({ LDS: '1', RDS: '1', CDS: '1', EDS: String(v) }, baseResources(9000 + v)));
  // The server reacts to a snapshot within a microtask: by the next macrotask it would have pushed.
  await new Promise((r) => setImmediate(r));
  assert.equal(s.ads.counters.pushes, pushesBefore, 'nothing more while the first response is un-ACKed');
  assert.equal(got.length, 1);
  call.write({ type_url: XDS_TYPE_URLS.EDS, version_info: '1', response_nonce: got[0]!.nonce, resource_names: ['a', 'b'] });
  await eventually(() => got.length === 2, 'next response after the ACK');
  assert.equal(got[1]!.version_info, '6', 'intermediate versions 2..5 were skipped');
  await new Promise((r) => setImmediate(r));
  assert.equal(s.ads.counters.pushes, pushesBefore + 1, 'one response for versions 2..6');
  assert.equal(got.length, 2);
  call.cancel();
  s.stop();
});

test('delta: a subscribed name that does not exist is announced in removed_resources; it arrives once created', async () => {
  const s = await startServer();
  s.cache.setSnapshot('d', snapshotOf('1', baseResources()));
  const raw = new grpc.Client(`127.0.0.1:${s.port}`, grpc.credentials.createSsl(Buffer.from(pki.bundlePem), Buffer.from(webId.keyPem), Buffer.from(webId.certChainPem), { checkServerIdentity: () => undefined }));
  cleanups.push(() => raw.close());
  const { encodeDeltaDiscoveryRequest, decodeDeltaDiscoveryResponse } = await import('../../src/xds/wire.ts');
  const call = raw.makeBidiStreamRequest('/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources', encodeDeltaDiscoveryRequest, decodeDeltaDiscoveryResponse);
  const got: Array<{ nonce: string; resources: Array<{ name: string }>; removed_resources: string[] }> = [];
  call.on('data', (r: (typeof got)[number]) => got.push(r));
  call.on('error', () => {});
  call.write({ node: { id: 'd' }, type_url: XDS_TYPE_URLS.EDS, resource_names_subscribe: ['a', 'nope'] });
  await eventually(() => got.length === 1, 'first response');
  assert.deepEqual(got[0]!.resources.map((r) => r.name), ['a']);
  assert.deepEqual(got[0]!.removed_resources, ['nope'], 'non-existence announced');
  const requestsBefore = s.ads.counters.requests;
  const pushesBefore = s.ads.counters.pushes;
  call.write({ type_url: XDS_TYPE_URLS.EDS, response_nonce: got[0]!.nonce });
  await eventually(() => s.ads.counters.requests > requestsBefore, 'the ACK handled');
  await new Promise((r) => setImmediate(r));
  assert.equal(s.ads.counters.pushes, pushesBefore, 'announced once');
  assert.equal(got.length, 1, 'announced once');
  const withNope = baseResources();
  withNope.endpoints!.push(loadAssignment('nope', [{ address: '127.0.0.1', port: 9100 }]));
  s.cache.setSnapshot('d', snapshotOf('2', withNope));
  await eventually(() => got.length === 2, 'created resource arrives');
  assert.deepEqual(got[1]!.resources.map((r) => r.name), ['nope']);
  call.write({ type_url: XDS_TYPE_URLS.EDS, response_nonce: got[1]!.nonce, resource_names_unsubscribe: ['nope'] });
  s.cache.setSnapshot('d', snapshotOf('3', baseResources(9200)));
  await eventually(() => got.length === 3, 'update after unsubscribe');
  assert.deepEqual(got[2]!.resources.map((r) => r.name), ['a']);
  assert.deepEqual(got[2]!.removed_resources, [], 'an unsubscribed name is not reported as removed');
  call.cancel();
  s.stop();
});

test('a malformed request ends only its own stream', async () => {
  const s = await startServer();
  s.cache.setSnapshot('web-1', snapshotOf('1', baseResources()));
  const { client } = startClient(s.port, { mode: 'delta' });
  await eventually(() => client.current !== undefined, 'healthy client synced');
  const raw = new grpc.Client(`127.0.0.1:${s.port}`, grpc.credentials.createSsl(Buffer.from(pki.bundlePem), Buffer.from(webId.keyPem), Buffer.from(webId.certChainPem), { checkServerIdentity: () => undefined }));
  cleanups.push(() => raw.close());
  const bytes = (b: Buffer) => b;
  const call = raw.makeBidiStreamRequest('/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', bytes, bytes);
  const failed = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
  call.write(Buffer.from([0x22, 0x01, 0x41, 0x7f, 0x00])); // type_url "A", then field 15 with the invalid wire type 7
  const e = await failed;
  assert.notEqual(e.code, grpc.status.OK);
  s.cache.setSnapshot('web-1', snapshotOf('2', baseResources(9300)));
  await eventually(() => client.current?.versions.EDS === '2', 'the healthy client still gets updates');
  client.stop();
  s.stop();
});

test('authorize hook refuses a stream whose node id does not match its certificate; clients without a certificate cannot connect', async () => {
  const s = await startServer({
    hooks: {
      authorize: (info) => {
        if (info.spiffeId !== webId.spiffeId || !info.node.id.startsWith('web-')) throw new Error(`node ${info.node.id} is not ${info.spiffeId}`);
      },
    },
  });
  s.cache.setSnapshot('db-1', snapshotOf('1', baseResources()));
  const { client } = startClient(s.port, { id: 'db-1' });
  await eventually(() => /PERMISSION_DENIED|refused/i.test(client.state.current.lastError ?? ''), 'refused');
  assert.equal(client.current, undefined);
  assert.equal(s.ads.streams().length, 0);
  client.stop();
  // No client certificate: the TLS handshake fails (requireClientCert), so no stream ever opens.
  const noCert = new grpc.Client(`127.0.0.1:${s.port}`, grpc.credentials.createSsl(Buffer.from(pki.bundlePem), null, null, { checkServerIdentity: () => undefined }));
  cleanups.push(() => noCert.close());
  const { encodeDiscoveryRequest, decodeDiscoveryResponse } = await import('../../src/xds/wire.ts');
  const call = noCert.makeBidiStreamRequest('/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', encodeDiscoveryRequest, decodeDiscoveryResponse);
  const failed = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
  call.write({ node: { id: 'web-9' }, type_url: XDS_TYPE_URLS.LDS });
  const e = await failed;
  assert.equal(e.code, grpc.status.UNAVAILABLE);
  assert.equal(s.events.opened.length, 0);
  s.stop();
});

test('an incomplete set is held back (waitingFor names the missing references) until it completes', async () => {
  const s = await startServer();
  const partial = baseResources();
  partial.routes = []; // the listener names web-routes, which does not exist yet
  partial.endpoints = [loadAssignment('a', [{ address: '127.0.0.1', port: 9001 }])]; // b's endpoints missing
  s.cache.setSnapshot('web-1', snapshotOf('1', partial));
  const { client, applied } = startClient(s.port, { mode: 'delta' });
  // waitingFor is the client's own verdict on the responses it got: the positive signal that it decided.
  await eventually(() => client.state.current.waitingFor.includes('RDS:web-routes') && client.state.current.waitingFor.includes('EDS:b'), 'waiting for RDS and EDS');
  assert.equal(applied.length, 0, 'nothing applied while incomplete');
  assert.equal(s.ads.counters.nacks, 0, 'incomplete is not an error');
  s.cache.setSnapshot('web-1', snapshotOf('2', baseResources()));
  await eventually(() => applied.length === 1, 'applied once complete');
  assert.deepEqual(client.state.current.waitingFor, []);
  assert.equal(applied[0]!.routes.size, 1);
  client.stop();
  s.stop();
});

test('TLS material is re-read at each reconnect, so a renewed certificate is used', async () => {
  const s1 = await startServer();
  s1.cache.setSnapshot('web-1', snapshotOf('1', baseResources()));
  const renewed = await pki.issue('default/web');
  let current: TestIdentity = webId;
  const { client } = startClient(s1.port, {
    tls: () => ({ caPem: pki.bundlePem, certChainPem: current.certChainPem, keyPem: current.keyPem, serverSpiffeId: 'spiffe://test.local/ns/weft-system/' }),
  });
  await eventually(() => client.current !== undefined, 'first apply');
  const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
  assert.equal(s1.events.opened[0]!.spiffeId, webId.spiffeId);
  assert.equal(s1.events.opened[0]!.peerFingerprint, fingerprint(webId.certChainPem));
  current = renewed;
  s1.stop();
  const s2 = await startServer({ port: s1.port });
  s2.cache.setSnapshot('web-1', snapshotOf('1', baseResources()));
  await eventually(() => s2.events.opened.length === 1, 'reconnected', 8000);
  assert.equal(s2.events.opened[0]!.peerFingerprint, fingerprint(renewed.certChainPem), 'the renewed certificate was presented');
  assert.notEqual(fingerprint(renewed.certChainPem), fingerprint(webId.certChainPem));
  client.stop();
  s2.stop();
});

test('the client refuses a control plane whose SPIFFE ID is not the expected one', async () => {
  const s = await startServer();
  s.cache.setSnapshot('web-1', snapshotOf('1', baseResources()));
  const { client } = startClient(s.port, {
    tls: { caPem: pki.bundlePem, certChainPem: webId.certChainPem, keyPem: webId.keyPem, serverSpiffeId: 'spiffe://test.local/ns/weft-system/sa/someone-else' },
  });
  await eventually(() => client.state.current.reconnects >= 1, 'connection refused by the client');
  assert.equal(client.current, undefined);
  assert.equal(s.events.opened.length, 0);
  client.stop();
  s.stop();
});

for (const mode of ['sotw', 'delta'] as const) {
  test(`${mode}: AdsProbe (benchmark client) sharing one connection ACKs, NACKs on demand, and sees versions`, async () => {
    const s = await startServer();
    const { AdsProbe } = await import('../../src/xds/probe-client.ts');
    const channel = new grpc.Client(`127.0.0.1:${s.port}`, grpc.credentials.createSsl(Buffer.from(pki.bundlePem), Buffer.from(webId.keyPem), Buffer.from(webId.certChainPem), { checkServerIdentity: () => undefined }));
    cleanups.push(() => channel.close());
    const subs = [{ typeUrl: XDS_TYPE_URLS.CDS }, { typeUrl: XDS_TYPE_URLS.EDS, names: ['a', 'b'] }];
    const probes = [0, 1, 2].map((i) => {
      s.cache.setSnapshot(`p${i}`, snapshotOf('1', baseResources()));
      return new AdsProbe({ client: channel, nodeId: `p${i}`, mode, subscriptions: subs, nack: (r) => (i === 2 && r.typeUrl === XDS_TYPE_URLS.EDS && r.version === '2' ? 'probe refuses v2' : undefined) });
    });
    for (const p of probes) p.start();
    await Promise.all(probes.map((p) => p.waitForVersion(XDS_TYPE_URLS.EDS, '1')));
    assert.equal(probes[0]!.last.get(XDS_TYPE_URLS.CDS)!.resources, 2);
    for (let i = 0; i < 3; i++) s.cache.setSnapshot(`p${i}`, snapshotOf({ LDS: '1', RDS: '1', CDS: '1', EDS: '2' }, baseResources(9100)));
    await Promise.all(probes.map((p) => p.next((r) => r.typeUrl === XDS_TYPE_URLS.EDS && r.version === '2')));
    await eventually(() => s.events.nacks.length === 1, 'NACK from probe 2');
    assert.equal(s.events.nacks[0]!.message, 'probe refuses v2');
    assert.equal(probes[2]!.nacks, 1);
    assert.equal(probes[2]!.last.get(XDS_TYPE_URLS.EDS)!.version, '1', 'a NACKed response is not recorded as held');
    await eventually(() => s.ads.streams().filter((x) => x.types[XDS_TYPE_URLS.EDS]?.ackedVersion === '2').length === 2, 'two probes ACKed v2');
    for (const p of probes) p.stop();
    s.stop();
  });
}

test('many concurrent clients (SotW and delta) converge, and an update reaches all of them', async () => {
  const s = await startServer();
  const N = 60;
  const snap1 = snapshotOf('1', baseResources());
  const clients: AdsClient[] = [];
  for (let i = 0; i < N; i++) {
    s.cache.setSnapshot(`node-${i}`, snap1);
    clients.push(startClient(s.port, { id: `node-${i}`, mode: i % 2 === 0 ? 'delta' : 'sotw' }).client);
  }
  await eventually(() => clients.every((c) => c.current?.versions.EDS === '1'), 'all synced', 15000);
  const snap2 = snapshotOf({ LDS: '1', RDS: '2', CDS: '1', EDS: '1' }, {
    ...baseResources(),
    routes: [routeConfig('web-routes', [route([{ cluster: 'a', weight: 50 }, { cluster: 'b', weight: 50 }])])],
  });
  const started = performance.now();
  for (let i = 0; i < N; i++) s.cache.setSnapshot(`node-${i}`, snap2);
  await eventually(() => s.ads.streams().every((st) => st.types[XDS_TYPE_URLS.RDS]?.ackedVersion === '2'), 'all acked v2', 15000);
  const ms = performance.now() - started;
  assert.equal(s.ads.streams().length, N);
  for (const c of clients) {
    const w = c.current!.routes.get('web-routes')!.virtual_hosts[0]!.routes[0]!.route!.weighted_clusters!.clusters.map((x) => x.weight!.value);
    assert.deepEqual(w, [50, 50]);
  }
  assert.equal(s.ads.counters.nacks, 0);
  const latencies = s.events.acks.filter((a) => a.typeUrl === XDS_TYPE_URLS.RDS && a.version === '2').map((a) => a.latencyMs!);
  assert.equal(latencies.length, N, 'every ACK of the change carries its push latency');
  assert.ok(latencies.every((l) => l >= 0 && l <= ms + 5), 'latency measured from the snapshot change');
  console.log(`# ${N} clients: route change ACKed by all in ${ms.toFixed(1)} ms`);
  for (const c of clients) c.stop();
  s.stop();
});
