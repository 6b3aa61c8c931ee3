// Interoperability with a real third-party xDS client: @grpc/grpc-js-xds resolves `xds:///echo`
// against weft's control plane (startControlPlane: files store, registry, compiler, ADS) and calls
// plain grpc-js backends registered as static Workloads. Checks plain routing, a weighted split
// (measured over 2,000 calls), header-based routing, retries, timeouts (max_stream_duration) and
// outlier detection — all compiled from Gateway API routes and a BackendTrafficPolicy, with no NACK.
// grpc-js-xds reads its bootstrap once per process; node --test runs this file in its own process.
// It supports only insecure channel credentials, so this control plane runs without TLS.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { configDir, controlPlane, getJson } from '../support/control-plane.ts';
import { eventually } from '../support/wait.ts';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const serialize = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const deserialize = (b: Buffer): unknown => JSON.parse(b.toString() || 'null');
const method = (name: string) => ({ path: `/weft.test.Echo/${name}`, requestStream: false, responseStream: false, requestSerialize: serialize, requestDeserialize: deserialize, responseSerialize: serialize, responseDeserialize: deserialize });
const SERVICE = { Call: method('Call'), Flaky: method('Flaky'), Slow: method('Slow') } as unknown as grpc.ServiceDefinition;

interface Backend {
  port: number;
  calls: number;
  flakyAttempts: Map<string, number>;
}

async function backend(name: string, opts: { fail?: boolean } = {}): Promise<Backend> {
  const b: Backend = { port: 0, calls: 0, flakyAttempts: new Map() };
  const server = new grpc.Server();
  server.addService(SERVICE, {
    Call: (_c: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      b.calls++;
      if (opts.fail) cb({ code: grpc.status.INTERNAL, details: `${name} is broken` });
      else cb(null, { backend: name });
    },
    Flaky: (c: grpc.ServerUnaryCall<{ id: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const n = (b.flakyAttempts.get(c.request.id) ?? 0) + 1;
      b.flakyAttempts.set(c.request.id, n);
      if (n < 3) cb({ code: grpc.status.UNAVAILABLE, details: `attempt ${n} fails` });
      else cb(null, { backend: name, attempts: n });
    },
    Slow: (_c: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      setTimeout(() => cb(null, { backend: name }), 1500).unref();
    },
  });
  b.port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  cleanups.push(() => server.forceShutdown());
  return b;
}

const a = await backend('a');
const b = await backend('b');
const good = await backend('good');
const bad = await backend('bad', { fail: true });

const svc = (name: string) => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: ${name}}
spec: {ports: [{name: grpc, port: 50051, appProtocol: grpc}]}
---
`;
const workload = (name: string, service: string, port: number) => `apiVersion: weft.dev/v1alpha1
kind: Workload
metadata: {name: ${name}}
spec: {service: ${service}, address: 127.0.0.1, port: ${port}}
---
`;
const MESH = [
  svc('echo'), svc('echo-a'), svc('echo-b'), svc('od'),
  workload('a-1', 'echo-a', a.port), workload('b-1', 'echo-b', b.port), workload('od-good', 'od', good.port), workload('od-bad', 'od', bad.port),
].join('') + `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: echo}
spec:
  parentRefs: [{group: "", kind: Service, name: echo}]
  rules:
    - name: canary
      matches: [{headers: [{name: x-canary, value: "true"}]}]
      backendRefs: [{name: echo-b, port: 50051}]
    - name: slow
      matches: [{path: {type: Exact, value: /weft.test.Echo/Slow}}]
      backendRefs: [{name: echo-a, port: 50051}]
      timeouts: {request: 300ms}
    - name: flaky
      matches: [{path: {type: Exact, value: /weft.test.Echo/Flaky}}]
      backendRefs: [{name: echo-a, port: 50051}]
      retry: {codes: [503], attempts: 3, backoff: 10ms}
    - name: split
      backendRefs: [{name: echo-a, port: 50051, weight: 80}, {name: echo-b, port: 50051, weight: 20}]
---
apiVersion: weft.dev/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: od}
spec:
  targetRefs: [{group: "", kind: Service, name: od}]
  loadBalancer: {type: RoundRobin}
  outlierDetection: {consecutive5xx: 3, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50}
`;

const dir = await configDir({ 'mesh.yaml': MESH });
const cp = await controlPlane({ configDir: dir.dir, insecure: true });
cleanups.push(() => dir.remove());
cleanups.push(() => cp.close());

process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
  xds_servers: [{ server_uri: cp.xdsTarget, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
  node: { id: 'grpc-interop', locality: {}, metadata: { WEFT_NAMESPACE: 'default' } },
});
grpcXds.register();

function client(target: string): grpc.Client {
  const c = new grpc.Client(target, grpc.credentials.createInsecure());
  cleanups.push(() => c.close());
  return c;
}

function call(c: grpc.Client, name: string, req: unknown = {}, metadata = new grpc.Metadata(), deadlineMs = 5000): Promise<any> {
  return new Promise((resolve, reject) => c.makeUnaryRequest(`/weft.test.Echo/${name}`, serialize, deserialize, req, metadata, { deadline: Date.now() + deadlineMs }, (e, r) => (e ? reject(e) : resolve(r))));
}

const echo = client('xds:///echo');

test('plain routing, header-based routing, and a weighted split within 5% over 2,000 calls', async () => {
  const first = await call(echo, 'Call');
  assert.ok(['a', 'b'].includes(first.backend));
  const md = new grpc.Metadata();
  md.set('x-canary', 'true');
  for (let i = 0; i < 20; i++) assert.equal((await call(echo, 'Call', {}, md)).backend, 'b', 'header match routes to echo-b');
  const counts: Record<string, number> = { a: 0, b: 0 };
  const N = 2000;
  for (let i = 0; i < N; i += 50) {
    const batch = await Promise.all(Array.from({ length: 50 }, () => call(echo, 'Call')));
    for (const r of batch) counts[r.backend]!++;
  }
  const shareA = counts.a! / N;
  console.log(`weighted split 80/20 over ${N} calls: a=${counts.a} b=${counts.b} (${(shareA * 100).toFixed(1)}% / ${((1 - shareA) * 100).toFixed(1)}%)`);
  assert.ok(Math.abs(shareA - 0.8) <= 0.05, `share of a ${shareA}`);
  // other names of the same service resolve too (listener per alias)
  assert.ok(['a', 'b'].includes((await call(client('xds:///echo.default:50051'), 'Call')).backend));
});

test('retries: UNAVAILABLE is retried per the route retry policy', async () => {
  const r = await call(echo, 'Flaky', { id: 'r1' });
  assert.deepEqual(r, { backend: 'a', attempts: 3 });
  assert.equal(a.flakyAttempts.get('r1'), 3);
});

test('timeouts: the route timeout reaches gRPC as max_stream_duration', async () => {
  const t0 = performance.now();
  await assert.rejects(call(echo, 'Slow', {}, new grpc.Metadata(), 5000), (e: grpc.ServiceError) => e.code === grpc.status.DEADLINE_EXCEEDED);
  const elapsed = performance.now() - t0;
  // Slow answers after 1.5 s and the caller allows 5 s, so DEADLINE_EXCEEDED at all can only come from
  // the route's 300 ms timeout (as max_stream_duration). The latency is logged; the bound is loose.
  console.log(`route timeout ended the call after ${elapsed.toFixed(0)} ms (route 300 ms, server 1500 ms, caller 5000 ms)`);
  assert.ok(elapsed < 4500, `deadline after ${elapsed.toFixed(0)} ms`);
});

test('outlier detection: a failing endpoint is ejected', async () => {
  const od = client('xds:///od');
  let failed = 0;
  for (let i = 0; i < 30; i++) await call(od, 'Call').catch(() => failed++);
  assert.ok(failed > 5, `round robin reached the bad endpoint (${failed} failures)`);
  // The ejection runs on the outlier-detection interval (1 s): wait for the signal (a batch that
  // reaches only good endpoints) rather than for a fixed time.
  await eventually(async () => {
    const batch = await Promise.all(Array.from({ length: 20 }, () => call(od, 'Call').then(() => true, () => false)));
    return batch.every(Boolean);
  }, 'the failing endpoint to be ejected');
  const badBefore = bad.calls;
  let okCalls = 0;
  for (let i = 0; i < 40; i++) if (await call(od, 'Call').then(() => true, () => false)) okCalls++;
  console.log(`outlier detection: ${failed}/30 failed before ejection; ${okCalls}/40 succeeded after; bad endpoint got ${bad.calls - badBefore} calls after`);
  assert.equal(okCalls, 40, 'no call reached the ejected endpoint');
  assert.equal(bad.calls - badBefore, 0);
});

test('the gRPC client accepted every resource (no NACK) and shows as SYNCED', async () => {
  const proxies = await getJson(`${cp.adminUrl}/api/proxies`);
  assert.equal(proxies.length, 1);
  assert.equal(proxies[0].kind, 'proxyless');
  assert.deepEqual(cp.nacks(), []);
  assert.equal(proxies[0].status, 'SYNCED', JSON.stringify(proxies[0].types));
});
