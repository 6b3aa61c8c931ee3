// The floor of node's `http2` module per request, with nothing of weft in the process: a bare
// `http2.connect` client keeping 64 streams in flight against a bare `http2.createServer` that answers
// 1 KiB (h2c, loopback), each in its own process, CPU time (process.cpuUsage) of each side divided by
// the requests served. Baseline in the same run: the same exchange as HTTP/1.1 keep-alive on raw
// sockets (64 connections, fixed response bytes), the shape of weft's HTTP/1 byte-forwarding engine.
// This is what a proxy that bridges onto an h2 peer connection pays before any work of its own: the
// outbound pays the client side, the inbound the server side (docs/PROXY.md, "Peer protocol").
// Prints a table and one JSON line.
//
// Usage: npm run bench -- micro/h2-floor [--requests 60000]
import { fork } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { printTable, printJsonLine } from '../lib/report.ts';

const { values: args } = parseArgs({ options: { requests: { type: 'string' }, role: { type: 'string' }, port: { type: 'string' } }, strict: false });
const REQUESTS = Number(args.requests ?? 60000);
const WARMUP = Math.floor(REQUESTS / 10);
const IN_FLIGHT = 64;
const BODY = Buffer.alloc(1024, 120);
const H1_RESPONSE = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1024\r\n\r\n'), BODY]);
const H1_REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\n\r\n');

type Message = { cpuUs: number; served: number } | { port: number } | { done: true; cpuUs: number; measured: number };

function send(m: Message): void {
  process.send!(m);
}

/** Server child: answers, reports its CPU time and requests served when asked (between client phases). */
function serve(kind: 'h2' | 'h1'): void {
  let served = 0;
  const onListening = (port: number) => send({ port });
  if (kind === 'h2') {
    const server = http2.createServer({ settings: { initialWindowSize: 1 << 20 } });
    server.on('stream', (stream) => {
      served++;
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': '1024' });
      stream.end(BODY);
    });
    server.listen(0, '127.0.0.1', () => onListening((server.address() as net.AddressInfo).port));
  } else {
    const server = net.createServer({ noDelay: true }, (socket) => {
      let pending = 0;
      socket.on('data', (chunk: Buffer) => {
        // Fixed-size requests: count complete ones, answer each with the fixed response.
        pending += chunk.length;
        while (pending >= H1_REQUEST.length) {
          pending -= H1_REQUEST.length;
          served++;
          socket.write(H1_RESPONSE);
        }
      });
      socket.on('error', () => {});
    });
    server.listen(0, '127.0.0.1', () => onListening((server.address() as net.AddressInfo).port));
  }
  process.on('message', () => {
    const u = process.cpuUsage();
    send({ cpuUs: u.user + u.system, served });
  });
}

/** Client child: REQUESTS requests with IN_FLIGHT outstanding; CPU time measured after the warm-up. */
async function drive(kind: 'h2' | 'h1', port: number): Promise<void> {
  let started = 0;
  let done = 0;
  let cpu0 = process.cpuUsage();
  let session: http2.ClientHttp2Session | undefined;
  const finished = new Promise<void>((resolve) => {
    const completed = () => {
      done++;
      if (done === WARMUP) cpu0 = process.cpuUsage();
      if (done === REQUESTS) resolve();
    };
    if (kind === 'h2') {
      const h2 = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 1 << 20 } });
      session = h2;
      const one = () => {
        if (started >= REQUESTS) return;
        started++;
        const stream = h2.request({ ':path': '/', ':authority': 'bench' }, { endStream: true });
        stream.on('data', () => {});
        stream.on('end', () => {
          completed();
          one();
        });
      };
      for (let i = 0; i < IN_FLIGHT; i++) one();
    } else {
      for (let i = 0; i < IN_FLIGHT; i++) {
        const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
        let received = 0;
        const next = () => {
          if (started >= REQUESTS) return socket.end();
          started++;
          socket.write(H1_REQUEST);
        };
        socket.on('connect', next);
        socket.on('data', (chunk: Buffer) => {
          received += chunk.length;
          while (received >= H1_RESPONSE.length) {
            received -= H1_RESPONSE.length;
            completed();
            next();
          }
        });
      }
    }
  });
  await finished;
  const u = process.cpuUsage(cpu0);
  session?.close();
  send({ done: true, cpuUs: u.user + u.system, measured: REQUESTS - WARMUP });
}

function child(role: string, extra: string[] = []): ReturnType<typeof fork> {
  return fork(fileURLToPath(import.meta.url), ['--role', role, '--requests', String(REQUESTS), ...extra], { execArgv: ['--import', 'tsx'] });
}

function next<T extends Message>(c: ReturnType<typeof fork>, pick: (m: Message) => m is T): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: Message) => {
      if (pick(m)) {
        c.off('message', on);
        resolve(m);
      }
    };
    c.on('message', on);
  });
}

async function measure(kind: 'h2' | 'h1'): Promise<{ clientUs: number; serverUs: number }> {
  const server = child(`server-${kind}`);
  const { port } = await next(server, (m): m is { port: number } => 'port' in m);
  const client = child(`client-${kind}`, ['--port', String(port)]);
  // The server's CPU is read when the client passes its warm-up and when it is done.
  let before: { cpuUs: number; served: number } | undefined;
  const poll = setInterval(() => server.send('cpu'), 50);
  const sample = (): Promise<{ cpuUs: number; served: number }> => next(server, (m): m is { cpuUs: number; served: number } => 'served' in m);
  while (before === undefined) {
    const s = await sample();
    if (s.served >= WARMUP) before = s;
  }
  const result = await next(client, (m): m is { done: true; cpuUs: number; measured: number } => 'done' in m);
  clearInterval(poll);
  server.send('cpu');
  const after = await sample();
  server.kill();
  client.kill();
  return { clientUs: result.cpuUs / result.measured, serverUs: (after.cpuUs - before.cpuUs) / (after.served - before.served) };
}

async function main(): Promise<void> {
  const role = typeof args.role === 'string' ? args.role : undefined;
  if (role === 'server-h2' || role === 'server-h1') return serve(role === 'server-h2' ? 'h2' : 'h1');
  if (role === 'client-h2' || role === 'client-h1') return drive(role === 'client-h2' ? 'h2' : 'h1', Number(args.port));
  const h1 = await measure('h1');
  const h2 = await measure('h2');
  printTable(`CPU µs per request, ${REQUESTS} requests, ${IN_FLIGHT} in flight, 1 KiB responses, loopback`, ['exchange', 'client µs/req', 'server µs/req', 'client ×', 'server ×'], [
    ['HTTP/1.1 keep-alive, raw sockets (baseline)', h1.clientUs.toFixed(1), h1.serverUs.toFixed(1), '1', '1'],
    ['node http2 (h2c), one session', h2.clientUs.toFixed(1), h2.serverUs.toFixed(1), (h2.clientUs / h1.clientUs).toFixed(1), (h2.serverUs / h1.serverUs).toFixed(1)],
  ]);
  printJsonLine({ bench: 'micro/h2-floor', at: new Date().toISOString(), node: process.version, requests: REQUESTS, inFlight: IN_FLIGHT, h1, h2 });
}

void main();
