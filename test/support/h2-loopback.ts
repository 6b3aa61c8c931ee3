// Loopback scaffolding for the own HTTP/2 codec's unit tests: a per-file cleanup list emptied after
// each test, our server and client on 127.0.0.1, a raw frame client that waited for the server's
// SETTINGS, and small frame helpers (u32 payloads, GOAWAY codes, waiting for a GOAWAY and the close).
import { afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { connectH2, serveH2 } from '../../src/proxy/protocols/h2/session.ts';
import type { H2ClientSession, H2ServerSession, H2SessionOptions, H2StreamHandler } from '../../src/proxy/protocols/h2/api.ts';
import { RawH2, FrameType, type Frame } from './h2-frames.ts';
import { eventually, waitFor } from './wait.ts';

export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

export const goawayCode = (f: Frame | undefined): number | undefined => f?.payload.readUInt32BE(4);

/** Waits for a GOAWAY with `code` from the server, then for the server to close the connection. */
export async function expectGoaway(raw: RawH2, code: number): Promise<void> {
  const g = await eventually(() => raw.goaway(), 'a GOAWAY');
  assert.equal(goawayCode(g), code, `GOAWAY code ${goawayCode(g)}: ${g.payload.subarray(8).toString()}`);
  await waitFor(() => raw.closed, 'the server to close the connection');
}

/** Call once per test file (top level): registers the afterEach cleanup and returns the builders. */
export function h2Loopback() {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    while (cleanups.length > 0) cleanups.pop()!();
  });

  function listen(onSocket: (socket: net.Socket) => void): Promise<number> {
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      onSocket(socket);
    });
    cleanups.push(() => server.close());
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
  }

  /** Our server on a loopback port; returns the port and the sessions it serves. */
  async function ownServer(handler: H2StreamHandler, options?: H2SessionOptions): Promise<{ port: number; sessions: H2ServerSession[] }> {
    const sessions: H2ServerSession[] = [];
    const port = await listen((socket) => sessions.push(serveH2(socket, handler, options)));
    cleanups.push(() => sessions.forEach((s) => s.destroy()));
    return { port, sessions };
  }

  /** Our client, ready (the server's SETTINGS arrived). */
  async function ownClient(port: number, options?: H2SessionOptions): Promise<H2ClientSession> {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    const session = connectH2(socket, options);
    cleanups.push(() => session.destroy());
    await waitFor(() => session.ready, 'the server SETTINGS');
    return session;
  }

  /** A raw frame client that has seen the server's SETTINGS. */
  async function rawClient(port: number): Promise<RawH2> {
    const raw = new RawH2(port);
    cleanups.push(() => raw.destroy());
    await raw.ready;
    await eventually(() => raw.frames.find((f) => f.type === FrameType.SETTINGS && f.flags === 0), 'the server SETTINGS');
    return raw;
  }

  return { cleanups, listen, ownServer, ownClient, rawClient };
}
