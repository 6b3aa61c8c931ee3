// echo-advanced for tests: the mesh conformance echo backend (modelled on the Istio echo app). It answers
// HTTP and gRPC with text lines `Key=Value`; the parser and the client-output formatter live here too.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { WeftError } from '../../src/core/errors.ts';
import { canonicalHeaderName, splitJoinedMetadata } from './echo-basic.ts';

export const ECHO_ADVANCED_PROTO = fileURLToPath(new URL('../conformance/protos/echo-advanced.proto', import.meta.url));

export interface EchoAdvancedOptions {
  namespace: string;
  /** The answering pod's name, echoed as `Hostname`. */
  podName: string;
  /** Echoed as `ServiceVersion` (e.g. `v1`). */
  version?: string;
  cluster?: string;
}

export interface EchoAdvancedServer {
  readonly namespace: string;
  readonly podName: string;
  readonly host: '127.0.0.1';
  /** Plain HTTP (the pod's 8080). */
  readonly httpPort: number;
  /** gRPC, h2c (the pod's 7070). */
  readonly grpcPort: number;
  close(): Promise<void>;
}

/** One echo-advanced reply (or a client's printout of it), parsed. Header names keep their case. */
export interface EchoAdvancedResponse {
  statusCode: number | undefined;
  hostname: string | undefined;
  fields: Record<string, string>;
  requestHeaders: Array<[string, string]>;
  responseHeaders: Array<[string, string]>;
}

class EchoAdvancedError extends WeftError {
  constructor(message: string, cause?: unknown) {
    super('ECHO_BACKEND_FAILED', message, cause === undefined ? {} : { cause });
  }
}

/** Builds the server's text body. */
export function formatEchoAdvanced(fields: {
  version: string;
  port: number;
  url: string;
  host: string;
  method: string;
  proto: string;
  ip: string;
  hostname: string;
  namespace: string;
  cluster: string;
  requestHeaders: Array<[string, string]>;
}): string {
  const lines = [
    `ServiceVersion=${fields.version}`,
    `ServicePort=${fields.port}`,
    'StatusCode=200',
    `URL=${fields.url}`,
    `Host=${fields.host}`,
    `Method=${fields.method}`,
    `Proto=${fields.proto}`,
    `IP=${fields.ip}`,
    'Alpn=',
  ];
  const sorted = [...fields.requestHeaders].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [name, value] of sorted) lines.push(`RequestHeader=${name}:${value}`);
  lines.push(`Hostname=${fields.hostname}`, `Namespace=${fields.namespace}`, `Cluster=${fields.cluster}`);
  return lines.join('\n') + '\n';
}

/**
 * What the mesh client prints for one exchange: the status and response headers it saw, then the
 * server's body. The parser takes the first StatusCode, so the client's own status wins.
 */
export function formatEchoAdvancedClientOutput(statusCode: number, responseHeaders: Array<[string, string]>, body: string): string {
  const lines = [`StatusCode=${statusCode}`];
  for (const [name, value] of responseHeaders) lines.push(`ResponseHeader=${name}:${value}`);
  return lines.join('\n') + '\n' + body;
}

/** Parses `Key=Value` lines (an optional `[n] ` request-id prefix is ignored). */
export function parseEchoAdvanced(text: string): EchoAdvancedResponse {
  const out: EchoAdvancedResponse = { statusCode: undefined, hostname: undefined, fields: {}, requestHeaders: [], responseHeaders: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\[\d+\]\s*/, '').replace(/\r$/, '');
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'RequestHeader' || key === 'ResponseHeader') {
      const colon = value.indexOf(':');
      if (colon <= 0) continue;
      const pair: [string, string] = [value.slice(0, colon), value.slice(colon + 1)];
      (key === 'RequestHeader' ? out.requestHeaders : out.responseHeaders).push(pair);
      continue;
    }
    if (key === 'StatusCode') {
      if (out.statusCode === undefined) out.statusCode = Number(value);
      continue;
    }
    if (key === 'Hostname' && out.hostname === undefined) out.hostname = value;
    if (!(key in out.fields)) out.fields[key] = value;
  }
  return out;
}

function headerPairs(rawHeaders: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.startsWith(':')) continue;
    out.push([canonicalHeaderName(name), rawHeaders[i + 1] as string]);
  }
  return out;
}

let echoTestService: grpc.ServiceClientConstructor | undefined;

/** The EchoTestService client constructor (echo-advanced's gRPC face). */
export function echoAdvancedGrpcClientConstructor(): grpc.ServiceClientConstructor {
  if (echoTestService === undefined) {
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(ECHO_ADVANCED_PROTO, { keepCase: true, defaults: true })) as any;
    echoTestService = pkg.proto.EchoTestService as grpc.ServiceClientConstructor;
  }
  return echoTestService;
}

/** Starts one echo-advanced pod: HTTP on `httpPort`, gRPC on `grpcPort`. */
export async function startEchoAdvanced(options: EchoAdvancedOptions): Promise<EchoAdvancedServer> {
  const version = options.version ?? '';
  const cluster = options.cluster ?? '';
  const sockets = new Set<Socket>();
  let httpPort = 0;
  const server = http.createServer((req, res) => {
    const requestHeaders = headerPairs(req.rawHeaders).filter(([n]) => n !== 'Host');
    const body = formatEchoAdvanced({
      version,
      port: httpPort,
      url: req.url ?? '/',
      host: req.headers.host ?? '',
      method: req.method ?? 'GET',
      proto: `HTTP/${req.httpVersion}`,
      ip: req.socket.remoteAddress ?? '',
      hostname: options.podName,
      namespace: options.namespace,
      cluster,
      requestHeaders,
    });
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  httpPort = await new Promise<number>((resolve, reject) => {
    server.once('error', (e) => reject(new EchoAdvancedError('echo-advanced could not listen on 127.0.0.1', e)));
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });

  const grpcServer = new grpc.Server();
  let grpcPort = 0;
  grpcServer.addService(echoAdvancedGrpcClientConstructor().service, {
    Echo(call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
      const requestHeaders: Array<[string, string]> = [];
      for (const [key, values] of Object.entries(call.metadata.toJSON())) {
        for (const value of values) for (const one of splitJoinedMetadata(value)) requestHeaders.push([canonicalHeaderName(key), one]);
      }
      const message = formatEchoAdvanced({
        version,
        port: grpcPort,
        url: call.getPath(),
        host: call.getHost(),
        method: 'POST',
        proto: 'GRPC',
        ip: call.getPeer(),
        hostname: options.podName,
        namespace: options.namespace,
        cluster,
        requestHeaders,
      });
      callback(null, { message });
    },
  });
  grpcPort = await new Promise<number>((resolve, reject) => {
    grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
      if (error) reject(new EchoAdvancedError('echo-advanced gRPC could not listen on 127.0.0.1', error));
      else resolve(port);
    });
  });

  return {
    namespace: options.namespace,
    podName: options.podName,
    host: '127.0.0.1',
    httpPort,
    grpcPort,
    async close(): Promise<void> {
      for (const s of sockets) s.destroy();
      grpcServer.forceShutdown();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
