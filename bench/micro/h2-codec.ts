// What weft's own HTTP/2 codec (src/proxy/protocols/h2/) costs per request, against node's `http2` and
// raw HTTP/1.1 in the same run: a client keeping 64 streams in flight on one session against a server
// that answers 1 KiB (h2c, loopback), each side in its own process, CPU time (process.cpuUsage) of each
// side divided by the requests served after a warm-up. Exchanges: own client → own server (connectH2 /
// serveH2), node http2 client → node http2 server, and HTTP/1.1 keep-alive on raw sockets (64
// connections, fixed bytes; the baseline, the shape of weft's HTTP/1 engine); each in plaintext and
// over TLS 1.3 (ECDSA P-256 leaf, ALPN h2), where the codec's one write per turn means few TLS records.
// Prints a table and one JSON line.
//
// Usage: npm run bench -- micro/h2-codec [--requests 60000] [--no-tls]
import { fork } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { printTable, printJsonLine } from '../lib/report.ts';
import { makeBenchPki } from '../lib/certs.ts';
import { connectH2, serveH2 } from '../../src/proxy/protocols/h2/session.ts';
import type { H2HeaderList, H2Stream } from '../../src/proxy/protocols/h2/api.ts';

const { values: args } = parseArgs({ options: { requests: { type: 'string' }, role: { type: 'string' }, port: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, ca: { type: 'string' }, 'no-tls': { type: 'boolean' } }, strict: false });
const REQUESTS = Number(args.requests ?? 60000);
const WARMUP = Math.floor(REQUESTS / 10);
const IN_FLIGHT = 64;
const BODY = Buffer.alloc(1024, 120);
const H1_RESPONSE = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1024\r\n\r\n'), BODY]);
const H1_REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\n\r\n');
const OWN_RESPONSE_HEAD: H2HeaderList = [':status', '200', 'content-type', 'text/plain', 'content-length', '1024'];
const OWN_REQUEST_HEAD: H2HeaderList = [':method', 'GET', ':scheme', 'http', ':authority', 'bench', ':path', '/'];

type Kind = 'h1' | 'node' | 'own';
/** TLS material for the children (paths passed on the command line), undefined for plaintext. */
const TLS = typeof args.cert === 'string' ? { cert: readFileSync(args.cert), key: readFileSync(String(args.key)), ca: readFileSync(String(args.ca)) } : undefined;

function listenPlainOrTls(onSocket: (socket: net.Socket) => void, alpn: string[]): net.Server {
  if (TLS === undefined) return net.createServer({ noDelay: true }, onSocket);
  return tls.createServer({ cert: TLS.cert, key: TLS.key, ALPNProtocols: alpn }, (socket) => {
    socket.setNoDelay(true);
    onSocket(socket);
  });
}

function connectPlainOrTls(port: number, alpn: string[]): net.Socket {
  if (TLS === undefined) return net.connect({ port, host: '127.0.0.1', noDelay: true });
  const socket = tls.connect({ port, host: '127.0.0.1', ca: TLS.ca, ALPNProtocols: alpn, checkServerIdentity: () => undefined });
  socket.setNoDelay(true);
  return socket;
}
type Message = { cpuUs: number; served: number } | { port: number } | { done: true; cpuUs: number; measured: number };

function send(m: Message): void {
  process.send!(m);
}

/** Server child: answers, reports its CPU time and requests served when asked. */
function serve(kind: Kind): void {
  let served = 0;
  const onListening = (port: number) => send({ port });
  if (kind === 'node') {
    const server = TLS === undefined ? http2.createServer({ settings: { initialWindowSize: 1 << 20 } }) : http2.createSecureServer({ cert: TLS.cert, key: TLS.key, settings: { initialWindowSize: 1 << 20 } });
    server.on('stream', (stream) => {
      served++;
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': '1024' });
      stream.end(BODY);
    });
    server.listen(0, '127.0.0.1', () => onListening((server.address() as net.AddressInfo).port));
  } else if (kind === 'own') {
    const answer = (stream: H2Stream): void => {
      served++;
      stream.sendHeaders(OWN_RESPONSE_HEAD, false);
      stream.sendData(BODY, true);
    };
    const server = listenPlainOrTls((socket) => {
      socket.on('error', () => {});
      serveH2(socket, answer);
    }, ['h2']);
    server.listen(0, '127.0.0.1', () => onListening((server.address() as net.AddressInfo).port));
  } else {
    const server = listenPlainOrTls((socket) => {
      let pending = 0;
      socket.on('data', (chunk: Buffer) => {
        pending += chunk.length;
        while (pending >= H1_REQUEST.length) {
          pending -= H1_REQUEST.length;
          served++;
          socket.write(H1_RESPONSE);
        }
      });
      socket.on('error', () => {});
    }, ['http/1.1']);
    server.listen(0, '127.0.0.1', () => onListening((server.address() as net.AddressInfo).port));
  }
  process.on('message', () => {
    const u = process.cpuUsage();
    send({ cpuUs: u.user + u.system, served });
  });
}

/** Client child: REQUESTS requests with IN_FLIGHT outstanding; CPU time measured after the warm-up. */
async function drive(kind: Kind, port: number): Promise<void> {
  let started = 0;
  let done = 0;
  let cpu0 = process.cpuUsage();
  let close: (() => void) | undefined;
  const finished = new Promise<void>((resolve) => {
    const completed = () => {
      done++;
      if (done === WARMUP) cpu0 = process.cpuUsage();
      if (done === REQUESTS) resolve();
    };
    if (kind === 'node') {
      const h2 =
        TLS === undefined
          ? http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 1 << 20 } })
          : http2.connect(`https://127.0.0.1:${port}`, { settings: { initialWindowSize: 1 << 20 }, ca: TLS.ca, checkServerIdentity: () => undefined });
      close = () => h2.close();
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
    } else if (kind === 'own') {
      const session = connectH2(connectPlainOrTls(port, ['h2']));
      close = () => session.close();
      // One handler object shape for every stream: no closures per request.
      const onData = function (this: H2Stream, chunk: Buffer): void {
        this.consume(chunk.length);
      };
      const onClose = (): void => {
        completed();
        one();
      };
      const one = (): void => {
        if (started >= REQUESTS) return;
        started++;
        const stream = session.request(OWN_REQUEST_HEAD, true);
        stream.onData = onData.bind(stream);
        stream.onClose = onClose;
      };
      for (let i = 0; i < IN_FLIGHT; i++) one();
    } else {
      for (let i = 0; i < IN_FLIGHT; i++) {
        const socket = connectPlainOrTls(port, ['http/1.1']);
        let received = 0;
        const next = () => {
          if (started >= REQUESTS) return socket.end();
          started++;
          socket.write(H1_REQUEST);
        };
        socket.on(TLS === undefined ? 'connect' : 'secureConnect', next);
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
  close?.();
  send({ done: true, cpuUs: u.user + u.system, measured: REQUESTS - WARMUP });
}

let tlsArgs: string[] = [];

function child(role: string, extra: string[] = []): ReturnType<typeof fork> {
  return fork(fileURLToPath(import.meta.url), ['--role', role, '--requests', String(REQUESTS), ...tlsArgs, ...extra], { execArgv: ['--import', 'tsx'] });
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

async function measure(kind: Kind): Promise<{ clientUs: number; serverUs: number }> {
  const server = child(`server-${kind}`);
  const { port } = await next(server, (m): m is { port: number } => 'port' in m);
  const client = child(`client-${kind}`, ['--port', String(port)]);
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

const KINDS: readonly Kind[] = ['h1', 'node', 'own'];
type Row = { clientUs: number; serverUs: number };

async function main(): Promise<void> {
  const role = typeof args.role === 'string' ? args.role : undefined;
  if (role !== undefined) {
    const [side, kind] = role.split('-') as ['server' | 'client', Kind];
    if (!KINDS.includes(kind)) throw new Error(`unknown role ${role}`);
    return side === 'server' ? serve(kind) : drive(kind, Number(args.port));
  }
  const plain: Record<Kind, Row> = { h1: await measure('h1'), node: await measure('node'), own: await measure('own') };
  let secure: Record<Kind, Row> | undefined;
  if (args['no-tls'] !== true) {
    const pki = await makeBenchPki();
    const leaf = await pki.issue('server');
    tlsArgs = ['--cert', leaf.certPath, '--key', leaf.keyPath, '--ca', pki.caPath];
    secure = { h1: await measure('h1'), node: await measure('node'), own: await measure('own') };
  }
  const ratio = (a: number, b: number): string => (a / b).toFixed(2);
  const rows = (r: Record<Kind, Row>, transport: string): string[][] => [
    [`HTTP/1.1 keep-alive, raw sockets (baseline), ${transport}`, r.h1.clientUs.toFixed(1), r.h1.serverUs.toFixed(1), '1', '1', '-', '-'],
    [`node http2 client → node http2 server, ${transport}`, r.node.clientUs.toFixed(1), r.node.serverUs.toFixed(1), ratio(r.node.clientUs, r.h1.clientUs), ratio(r.node.serverUs, r.h1.serverUs), '1', '1'],
    [`weft codec connectH2 → serveH2, ${transport}`, r.own.clientUs.toFixed(1), r.own.serverUs.toFixed(1), ratio(r.own.clientUs, r.h1.clientUs), ratio(r.own.serverUs, r.h1.serverUs), ratio(r.own.clientUs, r.node.clientUs), ratio(r.own.serverUs, r.node.serverUs)],
  ];
  printTable(`CPU µs per request, ${REQUESTS} requests, ${IN_FLIGHT} in flight, 1 KiB responses, loopback`, ['exchange', 'client µs/req', 'server µs/req', 'client × h1', 'server × h1', 'client × node', 'server × node'], [
    ...rows(plain, 'h2c / plaintext'),
    ...(secure === undefined ? [] : rows(secure, 'TLS 1.3')),
  ]);
  printJsonLine({ bench: 'micro/h2-codec', at: new Date().toISOString(), node: process.version, requests: REQUESTS, inFlight: IN_FLIGHT, plain, tls: secure });
}

void main();
