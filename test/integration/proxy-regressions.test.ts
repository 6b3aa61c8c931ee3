// Regressions found in review, each reproduced through a real proxy pair (outbound → mTLS → inbound → app).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startProxyPair } from '../support/proxies.ts';

function get(port: number, host: string): Promise<{ outcome: string; status?: number }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => {
      res.on('data', () => {});
      res.on('error', (e) => resolve({ outcome: `response error ${(e as NodeJS.ErrnoException).code}`, status: res.statusCode }));
      res.on('aborted', () => resolve({ outcome: 'aborted', status: res.statusCode }));
      res.on('end', () => resolve({ outcome: 'end', status: res.statusCode }));
    });
    req.on('error', (e) => resolve({ outcome: `request error ${(e as NodeJS.ErrnoException).code}` }));
  });
}

test('an app that resets mid-body behind the mTLS inbound does not crash the proxy (TLS sockets cannot RST)', async () => {
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  let resetNext = true;
  const app = net.createServer((socket) =>
    socket.on('data', () => {
      if (resetNext) {
        resetNext = false;
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
        setImmediate(() => socket.resetAndDestroy());
      } else {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }
    }),
  );
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const pair = await startProxyPair({ appPort: (app.address() as net.AddressInfo).port, peerProtocol: 'http1' });
  try {
    const broken = await get(pair.outboundPort, 'catalog');
    assert.notEqual(broken.outcome, 'end', 'a truncated body must not look complete to the client');
    const healthy = await get(pair.outboundPort, 'catalog');
    assert.deepEqual(healthy, { outcome: 'end', status: 200 });
    assert.deepEqual(uncaught, []);
  } finally {
    process.off('uncaughtException', onUncaught);
    await pair.close();
    app.close();
  }
});
