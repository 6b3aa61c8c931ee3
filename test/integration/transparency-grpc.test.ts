// Transparency of gRPC (@grpc/grpc-js) through client proxy → mTLS h2 → server proxy: unary,
// server/client/bidi streaming in order, status and metadata in trailers, deadlines (grpc-timeout).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startGrpcEcho, EchoClient, type EchoClientInstance } from '../support/grpc-echo.ts';
import { startProxyPair, type ProxyPair } from '../support/proxies.ts';

let app: Awaited<ReturnType<typeof startGrpcEcho>>;
let pair: ProxyPair;
let client: EchoClientInstance;
let byHost: EchoClientInstance;

before(async () => {
  app = await startGrpcEcho();
  pair = await startProxyPair({ appPort: app.port, appProtocol: 'grpc', upstreamListener: true, servicePort: 9090 });
  client = new EchoClient(`127.0.0.1:${pair.upstreamPort}`, grpc.credentials.createInsecure()) as EchoClientInstance;
  byHost = new EchoClient(`127.0.0.1:${pair.outboundPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'catalog.shop:9090' }) as EchoClientInstance;
});

after(async () => {
  client.close();
  byHost.close();
  await pair.close();
  await app.close();
});

function unary(c: EchoClientInstance, name: string, msg: string, md = new grpc.Metadata(), options: grpc.CallOptions = {}): Promise<{ value?: Buffer; error?: grpc.ServiceError; trailers?: grpc.Metadata }> {
  return new Promise((resolve) => {
    let trailers: grpc.Metadata | undefined;
    const call = c[name]!(Buffer.from(msg), md, options, (error: grpc.ServiceError | null, value: Buffer) => {
      setImmediate(() => resolve({ value, error: error ?? undefined, trailers }));
    });
    call.on('status', (s: grpc.StatusObject) => {
      trailers = s.metadata;
    });
  });
}

test('unary through the upstream port and by :authority on the outbound port, metadata both ways', async () => {
  for (const c of [client, byHost]) {
    const md = new grpc.Metadata();
    md.set('x-md', 'hello-md');
    const r = await unary(c, 'Unary', 'ping', md);
    assert.equal(r.error, undefined);
    assert.equal(r.value!.toString(), 'ping');
    assert.equal(r.trailers!.get('x-echo-md')[0], 'hello-md');
  }
});

test('server streaming keeps order and count', async () => {
  const got: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const call = client.ServerStream!(Buffer.from('50'));
    call.on('data', (b: Buffer) => got.push(b.toString()));
    call.on('end', resolve);
    call.on('error', reject);
  });
  assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => `msg-${i}`));
});

test('client streaming and bidi streaming', async () => {
  const joined = await new Promise<string>((resolve, reject) => {
    const call = client.ClientStream!((e: grpc.ServiceError | null, v: Buffer) => (e ? reject(e) : resolve(v.toString())));
    for (const p of ['a', 'b', 'c', 'd']) call.write(Buffer.from(p));
    call.end();
  });
  assert.equal(joined, 'a|b|c|d');
  const echoed: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const call = client.Bidi!();
    let i = 0;
    call.on('data', (b: Buffer) => {
      echoed.push(b.toString());
      if (++i < 20) call.write(Buffer.from(`m${i}`));
      else call.end();
    });
    call.on('end', resolve);
    call.on('error', reject);
    call.write(Buffer.from('m0'));
  });
  assert.deepEqual(echoed, Array.from({ length: 20 }, (_, k) => `echo:m${k}`));
});

test('grpc-status and message from the app reach the client unchanged', async () => {
  for (const code of [grpc.status.NOT_FOUND, grpc.status.PERMISSION_DENIED, grpc.status.RESOURCE_EXHAUSTED]) {
    const r = await unary(client, 'Fail', String(code));
    assert.equal(r.error?.code, code);
    assert.equal(r.error?.details, 'chosen failure');
  }
});

test('deadline: grpc-timeout is enforced and the client sees DEADLINE_EXCEEDED', async () => {
  const t0 = Date.now();
  const r = await unary(client, 'Slow', '3000', new grpc.Metadata(), { deadline: Date.now() + 300 });
  assert.equal(r.error?.code, grpc.status.DEADLINE_EXCEEDED);
  assert.ok(Date.now() - t0 < 2000);
  const ok = await unary(client, 'Slow', '10', new grpc.Metadata(), { deadline: Date.now() + 2000 });
  assert.equal(ok.value?.toString(), 'late');
});
