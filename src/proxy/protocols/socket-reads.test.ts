// Direct socket reads on real loopback sockets: a sink gets every byte in order as chunks it may
// keep (the shared read buffer never leaks out), a socket without a sink behaves as a Readable
// ('data', pipe, unshift), setSink hands over bytes already waiting first, pause stops delivery,
// and an accepted socket moved to a direct reader keeps the server's connection count right.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { adoptAccepted, connectDirect, readsDirectly, setSink } from './socket-reads.ts';

async function listen(onSocket: (s: net.Socket) => void, options: net.ServerOpts = {}): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer(options, onSocket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as net.AddressInfo).port };
}

function until(cond: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let tries = 0;
    const t = setInterval(() => {
      if (cond()) {
        clearInterval(t);
        resolve();
      } else if (++tries > 500) {
        clearInterval(t);
        reject(new Error(`timed out waiting for ${what}`));
      }
    }, 10);
  });
}

test('a sink gets every byte in order, as chunks that stay intact after later reads', async (t) => {
  const parts = Array.from({ length: 40 }, (_, i) => Buffer.alloc(1000 + i * 97, 65 + (i % 26)));
  const { server, port } = await listen((s) => {
    // Separate writes with pauses between some of them, so the client sees many reads.
    let i = 0;
    const next = (): void => {
      if (i === parts.length) return void s.end();
      s.write(parts[i++]!);
      setImmediate(next);
    };
    next();
  });
  t.after(() => server.close());
  const socket = connectDirect({ host: '127.0.0.1', port });
  assert.equal(readsDirectly(socket), true);
  const chunks: Buffer[] = [];
  const snapshots: string[] = [];
  assert.equal(
    setSink(socket, (c) => {
      chunks.push(c);
      snapshots.push(c.toString('latin1'));
    }),
    true,
  );
  await once(socket, 'end');
  assert.ok(chunks.length > 1, `expected several reads, got ${chunks.length}`);
  // Every chunk kept still holds what it held when delivered (no shared memory was handed out).
  chunks.forEach((c, i) => assert.equal(c.toString('latin1'), snapshots[i], `chunk ${i} changed after later reads`));
  assert.deepEqual(Buffer.concat(chunks), Buffer.concat(parts));
  socket.destroy();
});

test('without a sink the socket is a plain Readable: data events, and pipe() with back-pressure', async (t) => {
  const payload = Buffer.alloc(3 * 1024 * 1024, 7);
  const { server, port } = await listen((s) => s.end(payload));
  t.after(() => server.close());
  const socket = connectDirect({ host: '127.0.0.1', port });
  const got: Buffer[] = [];
  socket.on('data', (c: Buffer) => got.push(c));
  await once(socket, 'end');
  assert.deepEqual(Buffer.concat(got), payload);

  // pipe into a slow writable: everything arrives, the reader is paused and resumed on the way.
  const socket2 = connectDirect({ host: '127.0.0.1', port });
  const received: Buffer[] = [];
  let pauses = 0;
  socket2.on('pause', () => pauses++);
  const { Writable } = await import('node:stream');
  const slow = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _enc, cb) {
      received.push(chunk);
      setTimeout(cb, 1);
    },
  });
  socket2.pipe(slow);
  await once(slow, 'finish');
  assert.deepEqual(Buffer.concat(received), payload);
  assert.ok(pauses > 0, 'the pipe paused the socket at least once');
});

test('setSink hands over the bytes already waiting (unshifted) before later ones, in order', async (t) => {
  let serverSide: net.Socket | undefined;
  const { server, port } = await listen((s) => {
    serverSide = s;
    s.write('first|');
  });
  t.after(() => server.close());
  const socket = connectDirect({ host: '127.0.0.1', port });
  // A detector reads the first bytes through 'data', pauses and puts them back.
  const [first] = (await once(socket, 'data')) as [Buffer];
  socket.pause();
  socket.unshift(first);
  assert.ok(socket.readableLength > 0);
  const seen: string[] = [];
  setSink(socket, (c) => seen.push(c.toString()));
  assert.deepEqual(seen, ['first|'], 'the waiting bytes reach the sink at once');
  socket.resume();
  serverSide!.write('second|');
  await until(() => seen.join('') === 'first|second|', 'the later bytes');
  socket.destroy();
});

test('pause() stops delivery to the sink (also from inside the sink), resume() restarts it', async (t) => {
  let serverSide: net.Socket | undefined;
  const { server, port } = await listen((s) => {
    serverSide = s;
  });
  t.after(() => server.close());
  const socket = connectDirect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  await until(() => serverSide !== undefined, 'the accept');
  const seen: string[] = [];
  setSink(socket, (c) => {
    seen.push(c.toString());
    socket.pause();
  });
  serverSide!.write('a');
  await until(() => seen.length === 1, 'the first chunk');
  serverSide!.write('b');
  // While paused nothing is delivered: give the bytes time to arrive at the socket.
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(seen, ['a']);
  socket.resume();
  await until(() => seen.join('') === 'ab', 'the chunk read after resume');
  // Back to a Readable: setSink(null) → 'data' listeners get what follows.
  setSink(socket, null);
  socket.resume();
  const [later] = (await Promise.all([once(socket, 'data'), serverSide!.write('c')])) as [[Buffer], boolean];
  assert.equal(later[0].toString(), 'c');
  socket.destroy();
});

test('an accepted socket moved to direct reads serves both ways, and the server still counts and closes it', async () => {
  let moved: net.Socket | undefined;
  const { server, port } = await listen(
    (accepted) => {
      moved = adoptAccepted(accepted, true);
      assert.notEqual(moved, accepted);
      assert.equal(readsDirectly(moved), true);
      setSink(moved, (c) => moved!.write(`echo:${c.toString()}`));
      moved.on('end', () => moved!.end());
    },
    { pauseOnConnect: true, allowHalfOpen: true },
  );
  const client = net.connect(port, '127.0.0.1');
  let text = '';
  client.on('data', (c: Buffer) => (text += c.toString()));
  client.write('ping');
  await until(() => text === 'echo:ping', 'the echo');
  assert.equal(moved!.remoteAddress, '127.0.0.1');
  assert.equal(moved!.remotePort, client.localPort);
  const counted = await new Promise<number>((r) => server.getConnections((_e, n) => r(n)));
  assert.equal(counted, 1, 'the server counts the moved socket');
  // Half-close from the client: 'end' reaches the moved socket, which ends too; then the server can close.
  client.end();
  await once(client, 'close');
  await until(() => moved!.destroyed, 'the moved socket closing');
  const closed = new Promise<void>((r) => server.close(() => r()));
  await closed; // would hang if the server still counted a connection
});

test('a socket whose handle cannot be moved is returned as it is, resumed', async () => {
  const { server, port } = await listen(
    (accepted) => {
      accepted.destroy();
      const same = adoptAccepted(accepted, true);
      assert.equal(same, accepted);
      assert.equal(readsDirectly(same), false);
      assert.equal(setSink(same, () => {}), false, 'setSink refuses a socket that reads the usual way');
    },
    { pauseOnConnect: true },
  );
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => {});
  await once(client, 'close');
  await new Promise<void>((r) => server.close(() => r()));
});

test('mTLS to a peer proxy (connectPeer, ALPN h2) reads decrypted bytes directly: sink and data both intact', async (t) => {
  const { makeTestPki } = await import('../../../test/support/pki.ts');
  const { connectPeer, inboundTlsOptions, ALPN_H2 } = await import('./mesh-tls.ts');
  const tls = await import('node:tls');
  const pki = await makeTestPki();
  const serverId = await pki.issue('default/server');
  const clientId = await pki.issue('default/client');
  const payload = Buffer.alloc(300_000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
  const server = tls.createServer(inboundTlsOptions(serverId), (s) => {
    s.on('error', () => {});
    s.end(payload);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const open = () => connectPeer({ host: '127.0.0.1', port, material: clientId, expectedPeer: serverId.spiffeId, alpn: ALPN_H2, timeoutMs: 5000 });
  // A sink.
  const a = await open();
  assert.equal(readsDirectly(a), true);
  const kept: Buffer[] = [];
  const copies: Buffer[] = [];
  setSink(a, (c) => {
    kept.push(c);
    copies.push(Buffer.from(c));
  });
  await once(a, 'end');
  assert.ok(kept.length > 1);
  kept.forEach((c, i) => assert.ok(c.equals(copies[i]!), `chunk ${i} changed after later reads`));
  assert.ok(Buffer.concat(kept).equals(payload));
  a.destroy();
  // 'data' listeners, as the h2 session uses.
  const b = await open();
  const got: Buffer[] = [];
  b.on('data', (c: Buffer) => got.push(c));
  await once(b, 'end');
  assert.ok(Buffer.concat(got).equals(payload));
  b.destroy();
});
