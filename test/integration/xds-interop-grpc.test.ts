// Interoperability: a real third-party xDS client, @grpc/grpc-js-xds, resolves `xds:///…` against
// weft's ADS server (hand-written resources, no compiler) and calls real grpc-js backends: weighted
// split, header routing, a route change, route retry_policy and cluster outlier_detection.
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

/** A grpc-js backend answering calls with its own name, or failing them as `fail(n)` decides (n counts calls from 1). */
async function backend(name: string, fail: (n: number) => grpc.status | undefined = () => undefined, delayMs = 0): Promise<{ port: number; calls: () => number }> {
  const server = new grpc.Server();
  let calls = 0;
  server.addService(
    {
      Call: { path: METHOD, requestStream: false, responseStream: false, requestSerialize: serialize, requestDeserialize: deserialize, responseSerialize: serialize, responseDeserialize: deserialize },
    } as grpc.ServiceDefinition,
    {
      Call: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const code = fail(++calls);
        const answer = () => (code !== undefined ? cb({ code, details: `${name} fails call ${calls}` } as grpc.ServiceError) : cb(null, { backend: name }));
        if (delayMs > 0) setTimeout(answer, delayMs);
        else answer();
      },
    },
  );
  const port = await bind(server);
  cleanups.push(() => server.forceShutdown());
  return { port, calls: () => calls };
}

// One ADS server, one snapshot for the grpc-js-xds node, three services:
//   echo  — weighted split a/b, with a header route to b
//   flaky — one backend failing every other call with UNAVAILABLE, route retry_policy retries it
//   od    — a good and an always-failing endpoint, cluster outlier_detection ejects the bad one
//   slow  — a backend answering after 2 s, route max_stream_duration 300 ms (gRPC ignores `timeout`)
const a = await backend('a');
const b = await backend('b');
const flaky = await backend('flaky', (n) => (n % 2 === 1 ? grpc.status.UNAVAILABLE : undefined));
const good = await backend('good');
const bad = await backend('bad', () => grpc.status.INTERNAL);
const slow = await backend('slow', () => undefined, 2000);
const cache = new SnapshotCache();
const nacks: AdsNack[] = [];
const adsServer = new grpc.Server();
const ads = addAdsService(adsServer, cache, { onNack: (_i, n) => nacks.push(n) });
const adsPort = await bind(adsServer);
cleanups.push(() => adsServer.forceShutdown());

const ms = (n: number) => ({ seconds: Math.floor(n / 1000), nanos: (n % 1000) * 1e6 });
function resources(weights: [number, number]) {
  return {
    listeners: [apiListener('echo', 'echo-route'), apiListener('flaky', 'flaky-route'), apiListener('od', 'od-route'), apiListener('slow', 'slow-route')],
    routes: [
      routeConfig('echo-route', [
        route('b', { header: ['x-canary', 'true'] }),
        route([
          { cluster: 'a', weight: weights[0] },
          { cluster: 'b', weight: weights[1] },
        ]),
      ]),
      routeConfig('flaky-route', [
        { ...route('flaky'), route: { cluster: 'flaky', retry_policy: { retry_on: 'unavailable', num_retries: { value: 3 }, retry_back_off: { base_interval: ms(5) } } } },
      ]),
      routeConfig('od-route', [route('od')]),
      routeConfig('slow-route', [{ ...route('slow'), route: { cluster: 'slow', timeout: ms(300), max_stream_duration: { max_stream_duration: ms(300) } } }]),
    ],
    clusters: [
      edsCluster('a'),
      edsCluster('b'),
      edsCluster('flaky'),
      edsCluster('slow'),
      edsCluster('od', {
        outlier_detection: {
          interval: ms(100),
          base_ejection_time: { seconds: 30 },
          max_ejection_percent: { value: 50 },
          enforcing_success_rate: { value: 0 },
          enforcing_failure_percentage: { value: 100 },
          failure_percentage_threshold: { value: 50 },
          failure_percentage_minimum_hosts: { value: 2 },
          failure_percentage_request_volume: { value: 10 },
        },
      }),
    ],
    endpoints: [
      loadAssignment('a', [{ address: '127.0.0.1', port: a.port }]),
      loadAssignment('b', [{ address: '127.0.0.1', port: b.port }]),
      loadAssignment('flaky', [{ address: '127.0.0.1', port: flaky.port }]),
      loadAssignment('slow', [{ address: '127.0.0.1', port: slow.port }]),
      loadAssignment('od', [
        { address: '127.0.0.1', port: good.port },
        { address: '127.0.0.1', port: bad.port },
      ]),
    ],
  };
}
cache.setSnapshot('grpc-interop', snapshotOf('1', resources([80, 20])));

process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
  xds_servers: [{ server_uri: `127.0.0.1:${adsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
  node: { id: 'grpc-interop', locality: {} },
});
grpcXds.register();

function caller(target: string) {
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  cleanups.push(() => client.close());
  return (metadata = new grpc.Metadata()) =>
    new Promise<string>((resolve, reject) =>
      client.makeUnaryRequest(METHOD, serialize, deserialize, {}, metadata, { deadline: Date.now() + 5000 }, (e, r) =>
        e ? reject(e) : resolve((r as { backend: string }).backend),
      ),
    );
}

test('@grpc/grpc-js-xds resolves xds:///echo through weft ADS: routing, weighted split and header match', async () => {
  const call = caller('xds:///echo');

  // Plain routing + weighted split.
  const counts = { a: 0, b: 0 } as Record<string, number>;
  const N = 2000;
  for (let i = 0; i < N; i += 50) {
    const batch = await Promise.all(Array.from({ length: 50 }, () => call()));
    for (const x of batch) counts[x] = (counts[x] ?? 0) + 1;
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
  const deadline = Date.now() + 20_000;
  for (;;) {
    const batch = await Promise.all(Array.from({ length: 40 }, () => call()));
    if (batch.every((x) => x === 'a')) break;
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

test('@grpc/grpc-js-xds honours a route retry_policy delivered over ADS', async () => {
  const call = caller('xds:///flaky');
  const results = [];
  for (let i = 0; i < 40; i++) results.push(await call());
  assert.deepEqual(new Set(results), new Set(['flaky']), 'every call succeeded');
  assert.ok(flaky.calls() >= 79, `the backend saw the retries (${flaky.calls()} attempts for 40 calls)`);
  assert.deepEqual(nacks, []);
});

test('@grpc/grpc-js-xds honours cluster outlier_detection delivered over ADS', async () => {
  const call = caller('xds:///od');
  const settle = async (n: number) => (await Promise.allSettled(Array.from({ length: n }, () => call()))).map((r) => (r.status === 'fulfilled' ? r.value : `error:${(r.reason as grpc.ServiceError).code}`));
  // Round robin spreads calls once both subchannels are ready; wait until the failing one got some.
  const warm = Date.now() + 20_000;
  while (bad.calls() === 0) {
    await settle(10);
    await new Promise((r) => setTimeout(r, 20));
    if (Date.now() > warm) assert.fail('the failing endpoint never received a call');
  }
  // Within a few detection intervals the failing endpoint is ejected; then every call succeeds.
  const deadline = Date.now() + 20_000;
  for (;;) {
    await new Promise((r) => setTimeout(r, 150));
    const batch = await settle(20);
    if (batch.every((x) => x === 'good')) break;
    if (Date.now() > deadline) assert.fail(`bad endpoint never ejected: ${batch.join(',')}`);
  }
  const badBefore = bad.calls();
  const after = await settle(40);
  assert.deepEqual(new Set(after), new Set(['good']));
  assert.equal(bad.calls(), badBefore, 'the ejected endpoint receives nothing');
  assert.deepEqual(nacks, []);
});

test('@grpc/grpc-js-xds applies the route max_stream_duration delivered over ADS as the call deadline', async () => {
  const call = caller('xds:///slow');
  const started = performance.now();
  await assert.rejects(call(), (e: grpc.ServiceError) => e.code === grpc.status.DEADLINE_EXCEEDED);
  const took = performance.now() - started;
  assert.ok(took < 1500, `deadline from max_stream_duration (300 ms), not the backend's 2 s or the caller's 5 s: ${took.toFixed(0)} ms`);
  assert.deepEqual(nacks, []);
});
