// Interoperability: a real third-party xDS client, @grpc/grpc-js-xds, resolves `xds:///echo` against
// weft's ADS server (hand-written resources, no compiler) and calls real grpc-js backends.
// Proves the transport speaks xDS v3 as others understand it: named LDS/RDS/CDS/EDS in SotW, API
// listener with HttpConnectionManager + RDS, EDS clusters, localities with weights, IP literals.
// grpc-js-xds reads its bootstrap from GRPC_XDS_BOOTSTRAP_CONFIG once, when the first xds channel
// is created; this file runs in its own process (node --test), so setting it here is safe.
// grpc-js-xds supports only `insecure` and `google_default` channel credentials, so this server
// uses an insecure port (weft's own proxies use mTLS, see xds-ads.test.ts).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { SnapshotCache, addAdsService, type AdsNack } from '../../src/xds/server.ts';
import { apiListener, edsCluster, loadAssignment, route, routeConfig, snapshotOf } from '../support/xds-resources.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const METHOD = '/weft.test.Echo/Call';
const serialize = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const deserialize = (b: Buffer): unknown => JSON.parse(b.toString() || 'null');

async function bind(server: grpc.Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, port) => (e ? reject(e) : resolve(port))),
  );
}

/** A grpc-js backend answering every call with its own name. */
async function backend(name: string): Promise<number> {
  const server = new grpc.Server();
  server.addService(
    {
      Call: { path: METHOD, requestStream: false, responseStream: false, requestSerialize: serialize, requestDeserialize: deserialize, responseSerialize: serialize, responseDeserialize: deserialize },
    } as grpc.ServiceDefinition,
    { Call: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { backend: name }) },
  );
  const port = await bind(server);
  cleanups.push(() => server.forceShutdown());
  return port;
}

test('@grpc/grpc-js-xds resolves xds:///echo through weft ADS: routing, weighted split and header match', async () => {
  const portA = await backend('a');
  const portB = await backend('b');
  const cache = new SnapshotCache();
  const nacks: AdsNack[] = [];
  const adsServer = new grpc.Server();
  const ads = addAdsService(adsServer, cache, { onNack: (_i, n) => nacks.push(n) });
  const adsPort = await bind(adsServer);
  cleanups.push(() => adsServer.forceShutdown());

  const resources = (weights: [number, number]) => ({
    listeners: [apiListener('echo', 'echo-route')],
    routes: [
      routeConfig('echo-route', [
        route('b', { header: ['x-canary', 'true'] }),
        route([
          { cluster: 'a', weight: weights[0] },
          { cluster: 'b', weight: weights[1] },
        ]),
      ]),
    ],
    clusters: [edsCluster('a'), edsCluster('b')],
    endpoints: [loadAssignment('a', [{ address: '127.0.0.1', port: portA }]), loadAssignment('b', [{ address: '127.0.0.1', port: portB }])],
  });
  cache.setSnapshot('grpc-interop', snapshotOf('1', resources([80, 20])));

  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${adsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'grpc-interop', locality: {} },
  });
  grpcXds.register();
  const client = new grpc.Client('xds:///echo', grpc.credentials.createInsecure());
  cleanups.push(() => client.close());
  const call = (metadata = new grpc.Metadata()) =>
    new Promise<string>((resolve, reject) =>
      client.makeUnaryRequest(METHOD, serialize, deserialize, {}, metadata, { deadline: Date.now() + 5000 }, (e, r) =>
        e ? reject(e) : resolve((r as { backend: string }).backend),
      ),
    );

  // Plain routing + weighted split.
  const counts = { a: 0, b: 0 } as Record<string, number>;
  const N = 2000;
  for (let i = 0; i < N; i += 50) {
    const batch = await Promise.all(Array.from({ length: 50 }, () => call()));
    for (const b of batch) counts[b] = (counts[b] ?? 0) + 1;
  }
  const ratioA = counts.a! / N;
  console.log(`# weighted 80/20 over ${N} calls: a=${counts.a} b=${counts.b} (a ${(ratioA * 100).toFixed(1)}%)`);
  assert.ok(Math.abs(ratioA - 0.8) <= 0.05, `measured ${ratioA} for weight 0.8`);

  // Header-based routing: x-canary: true always reaches b.
  const md = new grpc.Metadata();
  md.set('x-canary', 'true');
  const canary = await Promise.all(Array.from({ length: 50 }, () => call(md)));
  assert.deepEqual(new Set(canary), new Set(['b']));

  // A route change pushed over ADS takes effect: all traffic to a.
  cache.setSnapshot('grpc-interop', snapshotOf({ LDS: '1', RDS: '2', CDS: '1', EDS: '1' }, resources([100, 0])));
  const deadline = Date.now() + 5000;
  for (;;) {
    const batch = await Promise.all(Array.from({ length: 40 }, () => call()));
    if (batch.every((b) => b === 'a')) break;
    if (Date.now() > deadline) assert.fail('route change did not take effect');
  }

  // grpc-js-xds ACKed everything, NACKed nothing, and subscribed by name.
  const stream = ads.streams().find((s) => s.node.id === 'grpc-interop')!;
  assert.ok(stream, 'grpc-js-xds stream visible');
  assert.equal(stream.types['type.googleapis.com/envoy.config.listener.v3.Listener']!.ackedVersion, '1');
  assert.equal(stream.types['type.googleapis.com/envoy.config.route.v3.RouteConfiguration']!.ackedVersion, '2');
  assert.deepEqual(stream.types['type.googleapis.com/envoy.config.listener.v3.Listener']!.subscribed, ['echo']);
  assert.deepEqual([...(stream.types['type.googleapis.com/envoy.config.cluster.v3.Cluster']!.subscribed as string[])].sort(), ['a', 'b']);
  assert.deepEqual(nacks, []);
});
