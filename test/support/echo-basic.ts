// echo-basic for tests: the Gateway API conformance echo backend (HTTP/1.1 JSON echo, h2c, optional
// HTTPS, WebSocket on /ws, /status, /health, /retry, ?delay=) or, with `grpc: true`, its gRPC GrpcEcho
// service; one instance is one "pod", listening on 127.0.0.1 port 0. Contract: the corpus README.
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { WebSocketServer } from 'ws';
import { sharedTimer } from '../../src/core/coarse-timer.ts';
import { WeftError } from '../../src/core/errors.ts';

export const GRPC_ECHO_SERVICE = 'gateway_api_conformance.echo_basic.grpcecho.GrpcEcho';
export const GRPC_ECHO_PROTO = fileURLToPath(new URL('../conformance/protos/grpc-echo.proto', import.meta.url));

export interface EchoBasicOptions {
  /** NAMESPACE: echoed as `namespace` (and `context.namespace` over gRPC). */
  namespace: string;
  /** POD_NAME: `<deployment>-<rs-hash>-<id>`. */
  podName: string;
  /** SERVICE_NAME and INGRESS_NAME, echoed as given (default ''). */
  service?: string;
  ingress?: string;
  /** GRPC_ECHO_SERVER=1: serve GrpcEcho (h2c) on the main port instead of HTTP. */
  grpc?: boolean;
  /** TLS_SERVER_CERT / TLS_SERVER_PRIVKEY (PEM): also serve HTTPS on `httpsPort`. */
  tls?: { cert: string; key: string };
  /** Receives each log line as it is written (the in-memory log keeps them too). */
  onLog?: (line: string) => void;
}

/** The JSON body echo-basic answers with. */
export interface EchoBasicBody {
  path: string;
  host: string;
  method: string;
  proto: string;
  headers: Record<string, string[]>;
  httpPort: string;
  namespace: string;
  ingress: string;
  service: string;
  pod: string;
  tls?: { version: string; peerCertificates: string[]; serverName: string; negotiatedProtocol: string; cipherSuite: string };
}

export interface EchoBasicServer {
  readonly namespace: string;
  readonly podName: string;
  readonly host: '127.0.0.1';
  /** HTTP/1.1 port (the gRPC port when `grpc` is set). */
  readonly httpPort: number;
  /** h2c prior-knowledge port; undefined in gRPC mode. */
  readonly h2cPort: number | undefined;
  readonly httpsPort: number | undefined;
  readonly grpc: boolean;
  /** Every log line written so far, oldest first. */
  readonly logLines: readonly string[];
  /** How many `Echoing back request made to <requestUri> to client` lines were logged (mirror tests). */
  countEchoed(requestUri: string): number;
  close(): Promise<void>;
}

class EchoBackendError extends WeftError {
  constructor(message: string, cause?: unknown) {
    super('ECHO_BACKEND_FAILED', message, cause === undefined ? {} : { cause });
  }
}

/** Parses a Go duration (`1s`, `500ms`, `1m30s`, `1.5s`) into milliseconds; undefined when malformed. */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * (unitMs[m[2] as string] as number);
    matched = re.lastIndex;
  }
  return matched === text.length && matched > 0 ? total : undefined;
}

/**
 * The separate values of one incoming gRPC metadata entry. node:http2 joins repeated header fields with
 * ', ' before grpc-js sees them; a Go server (the real echo apps) keeps them apart, so split them back.
 * Binary (`-bin`) values are reported base64-encoded.
 */
export function splitJoinedMetadata(value: string | Buffer): string[] {
  if (Buffer.isBuffer(value)) return [value.toString('base64')];
  return value.split(', ');
}

/** Go's textproto canonical form: `x-echo-set-header` → `X-Echo-Set-Header`. */
export function canonicalHeaderName(name: string): string {
  return name
    .toLowerCase()
    .split('-')
    .map((part) => (part.length === 0 ? part : part[0]!.toUpperCase() + part.slice(1)))
    .join('-');
}

function sleep(ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => sharedTimer.deadline(ms, resolve));
}

function headersFromRaw(rawHeaders: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.startsWith(':') || name.toLowerCase() === 'host') continue;
    const key = canonicalHeaderName(name);
    (out[key] ??= []).push(rawHeaders[i + 1] as string);
  }
  return out;
}

function listen(server: http.Server | http2.Http2Server | https.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new EchoBackendError('echo-basic could not listen on 127.0.0.1', e)));
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function closeServer(server: { close(cb: (err?: Error) => void): unknown }): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;
type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Starts one echo-basic pod. */
export async function startEchoBasic(options: EchoBasicOptions): Promise<EchoBasicServer> {
  if (options.grpc === true) return startGrpcEcho(options);
  const logLines: string[] = [];
  const log = (line: string): void => {
    logLines.push(line);
    options.onLog?.(line);
  };
  const retryAttempts = new Map<string, number>();
  const sockets = new Set<Socket>();
  let httpPort = 0;

  const echo = (req: AnyRequest, res: AnyResponse, proto: string, tlsSocket: TLSSocket | undefined): void => {
    const requestUri = req.url ?? '/';
    const authority = (req.headers[':authority'] as string | undefined) ?? req.headers.host ?? '';
    const body: EchoBasicBody = {
      path: requestUri,
      host: authority,
      method: req.method ?? 'GET',
      proto,
      headers: headersFromRaw(req.rawHeaders),
      httpPort: String(httpPort),
      namespace: options.namespace,
      ingress: options.ingress ?? '',
      service: options.service ?? '',
      pod: options.podName,
    };
    if (tlsSocket !== undefined) {
      body.tls = {
        version: tlsSocket.getProtocol() ?? '',
        peerCertificates: [],
        serverName: (tlsSocket as TLSSocket & { servername?: string | false }).servername || '',
        negotiatedProtocol: tlsSocket.alpnProtocol || '',
        cipherSuite: tlsSocket.getCipher()?.name ?? '',
      };
    }
    const setHeader = req.headers['x-echo-set-header'];
    const setHeaderText = Array.isArray(setHeader) ? setHeader.join(',') : (setHeader ?? '');
    const extra = new Map<string, { name: string; value: string }>();
    for (const item of setHeaderText.split(',')) {
      const colon = item.indexOf(':');
      if (colon <= 0) continue;
      const name = item.slice(0, colon).trim();
      const value = item.slice(colon + 1).trim();
      const prior = extra.get(name.toLowerCase());
      extra.set(name.toLowerCase(), prior === undefined ? { name, value } : { name: prior.name, value: `${prior.value},${value}` });
    }
    const payload = JSON.stringify(body);
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    for (const { name, value } of extra.values()) res.setHeader(name, value);
    res.setHeader('Content-Length', Buffer.byteLength(payload));
    log(`Echoing back request made to ${requestUri} to client (${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? ''})`);
    res.writeHead(200);
    res.end(payload);
  };

  const handle = async (req: AnyRequest, res: AnyResponse, proto: string, tlsSocket?: TLSSocket): Promise<void> => {
    const requestUri = req.url ?? '/';
    const url = new URL(requestUri, 'http://echo.invalid');
    const delay = url.searchParams.get('delay');
    if (delay !== null) {
      const ms = parseGoDuration(delay);
      if (ms === undefined) {
        res.writeHead(400, { 'Content-Type': 'text/plain' });
        res.end(`invalid delay ${delay}\n`);
        return;
      }
      await sleep(ms);
    }
    if (url.pathname === '/health') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('OK');
      return;
    }
    const status = /^\/status\/(\d{3})$/.exec(url.pathname);
    if (status !== null) {
      res.writeHead(Number(status[1]));
      res.end();
      return;
    }
    if (url.pathname.startsWith('/retry/') || url.pathname === '/retry') {
      const uuid = url.searchParams.get('uuid') ?? '';
      const succeedAfter = Number(url.searchParams.get('succeedAfter') ?? '0');
      const seen = retryAttempts.get(uuid) ?? 0;
      retryAttempts.set(uuid, seen + 1);
      if (seen < succeedAfter) {
        const delayRetry = parseGoDuration(url.searchParams.get('delayRetry') ?? '0') ?? 0;
        await sleep(delayRetry);
        const code = url.searchParams.get('responseCode');
        if (code !== null && code !== '') {
          res.writeHead(Number(code));
          res.end();
        } else {
          const socket = req.socket as Socket;
          if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
          else socket.destroy();
        }
        return;
      }
    }
    echo(req, res, proto, tlsSocket);
  };

  const h1 = http.createServer((req, res) => {
    void handle(req, res, `HTTP/${req.httpVersion}`);
  });
  const track = (s: Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  h1.on('connection', track);
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  h1.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://echo.invalid').pathname !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    log(`Echoing back request made to ${req.url ?? '/ws'} to client (${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? ''})`);
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  httpPort = await listen(h1);

  const h2c = http2.createServer((req, res) => {
    void handle(req, res, 'HTTP/2.0');
  });
  h2c.on('connection', track);
  const h2cPort = await listen(h2c);

  let tlsServer: https.Server | undefined;
  let httpsPort: number | undefined;
  if (options.tls !== undefined) {
    tlsServer = https.createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => {
      void handle(req, res, `HTTP/${req.httpVersion}`, req.socket as TLSSocket);
    });
    tlsServer.on('secureConnection', track);
    httpsPort = await listen(tlsServer);
  }

  return {
    namespace: options.namespace,
    podName: options.podName,
    host: '127.0.0.1',
    httpPort,
    h2cPort,
    httpsPort,
    grpc: false,
    logLines,
    countEchoed(requestUri: string): number {
      const needle = `Echoing back request made to ${requestUri} to client`;
      let n = 0;
      for (const line of logLines) if (line.startsWith(needle)) n++;
      return n;
    },
    async close(): Promise<void> {
      for (const ws of wss.clients) ws.terminate();
      for (const s of sockets) s.destroy();
      await Promise.all([closeServer(h1), closeServer(h2c), ...(tlsServer ? [closeServer(tlsServer)] : [])]);
    },
  };
}

let grpcPackage: grpc.GrpcObject | undefined;

/** Loads GrpcEcho's definition once (used by the server here and by the conformance gRPC client). */
export function grpcEchoPackage(): grpc.GrpcObject {
  grpcPackage ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(GRPC_ECHO_PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true }),
  );
  return grpcPackage;
}

/** The GrpcEcho service client constructor. */
export function grpcEchoClientConstructor(): grpc.ServiceClientConstructor {
  const pkg = grpcEchoPackage() as any;
  return pkg.gateway_api_conformance.echo_basic.grpcecho.GrpcEcho as grpc.ServiceClientConstructor;
}

async function startGrpcEcho(options: EchoBasicOptions): Promise<EchoBasicServer> {
  const logLines: string[] = [];
  const server = new grpc.Server();
  const answer = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
    const headers: Array<{ key: string; value: string }> = [];
    for (const [key, values] of Object.entries(call.metadata.toJSON())) {
      for (const value of values) for (const one of splitJoinedMetadata(value)) headers.push({ key, value: one });
    }
    const line = `Echoing back request made to ${call.getPath()} to client (${call.getPeer()})`;
    logLines.push(line);
    options.onLog?.(line);
    callback(null, {
      assertions: {
        fully_qualified_method: call.getPath(),
        headers,
        authority: call.getHost(),
        context: { namespace: options.namespace, ingress: options.ingress ?? '', service_name: options.service ?? '', pod: options.podName },
      },
    });
  };
  // EchoThree is left out on purpose: grpc-js answers UNIMPLEMENTED for it.
  server.addService(grpcEchoClientConstructor().service, { Echo: answer, EchoTwo: answer });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => {
      if (error) reject(new EchoBackendError('echo-basic gRPC could not listen on 127.0.0.1', error));
      else resolve(bound);
    });
  });
  return {
    namespace: options.namespace,
    podName: options.podName,
    host: '127.0.0.1',
    httpPort: port,
    h2cPort: undefined,
    httpsPort: undefined,
    grpc: true,
    logLines,
    countEchoed(requestUri: string): number {
      return logLines.filter((l) => l.startsWith(`Echoing back request made to ${requestUri} to client`)).length;
    },
    close(): Promise<void> {
      server.forceShutdown();
      return Promise.resolve();
    },
  };
}
