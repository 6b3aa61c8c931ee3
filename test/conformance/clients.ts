// Conformance clients: the HTTP client the gateway-http comparator assumes (fresh connection per request,
// Host from the case, X-Echo-Set-Header always sent, optional redirect following; HTTP/1.1, HTTPS with
// SNI, H2 over TLS, h2c prior knowledge), the GrpcEcho client (h2c, authority override, metadata) and the
// WebSocket echo client.
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import * as grpc from '@grpc/grpc-js';
import WebSocket from 'ws';
import { sharedTimer } from '../../src/core/coarse-timer.ts';
import { grpcEchoClientConstructor, type EchoBasicBody } from '../support/echo-basic.ts';
import { ConformanceClientError } from './errors.ts';
import { goStyleServerIdentity } from './tls-cert.ts';

export interface Address {
  host: string;
  port: number;
}

export type HttpProtocol = 'HTTP' | 'HTTPS' | 'H2' | 'H2C_PRIOR_KNOWLEDGE';

export interface HttpClientRequest {
  address: Address;
  protocol: HttpProtocol;
  method: string;
  /** Host header / :authority; '' means `<address.host>:<address.port>`, as upstream sends the gateway address. */
  host: string;
  /** Path including the query string. */
  path: string;
  headers: Record<string, string>;
  /** Value of X-Echo-Set-Header (always sent, '' when the case sets nothing). */
  echoSetHeader?: string;
  body?: string;
  followRedirects: boolean;
  /** TLS SNI; defaults to the host without its port. */
  serverName?: string;
  /** PEM CA(s) to trust for HTTPS/H2. */
  ca?: string | string[];
  timeoutMs?: number;
}

export interface HttpClientResponse {
  statusCode: number;
  /** Response headers as received, names as the server spelled them (lower-case over HTTP/2). */
  headers: Array<[string, string]>;
  body: string;
  /** The echo-basic JSON body, when the reply was one. */
  echo: EchoBasicBody | undefined;
  /** The request actually sent last (after following redirects). */
  finalPath: string;
}

const REDIRECT_CODES = new Set([300, 301, 302, 303, 304, 305, 307, 308]);

/** Serialises `{Name: value}` into the `X-Echo-Set-Header` value echo-basic expects. */
export function echoSetHeaderValue(headers: Record<string, string> | undefined): string {
  if (headers === undefined) return '';
  return Object.entries(headers)
    .map(([k, v]) => `${k}:${v}`)
    .join(',');
}

type OnTimeout = (cleanup: () => void) => void;

/** Runs `run`, rejecting after `ms` (one shared coarse-timer deadline) and calling the cleanups it registered. */
function withDeadline<T>(ms: number, what: string, run: (onTimeout: OnTimeout) => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const cleanups: Array<() => void> = [];
    const deadline = sharedTimer.deadline(ms, () => {
      if (settled) return;
      settled = true;
      for (const c of cleanups) c();
      reject(new ConformanceClientError(`${what}: no answer within ${ms} ms`));
    });
    run((c) => cleanups.push(c)).then(
      (v) => {
        if (settled) return;
        settled = true;
        deadline.cancel();
        resolve(v);
      },
      (e: unknown) => {
        if (settled) return;
        settled = true;
        deadline.cancel();
        reject(e instanceof Error ? e : new ConformanceClientError(String(e)));
      },
    );
  });
}

function pairsFromRaw(raw: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.startsWith(':')) continue;
    out.push([name, raw[i + 1] as string]);
  }
  return out;
}

function parseEcho(headers: Array<[string, string]>, body: string): EchoBasicBody | undefined {
  const ct = headers.find(([n]) => n.toLowerCase() === 'content-type')?.[1] ?? '';
  if (!ct.includes('application/json')) return undefined;
  try {
    const parsed = JSON.parse(body) as EchoBasicBody;
    return typeof parsed === 'object' && parsed !== null && typeof parsed.pod === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function once1(req: HttpClientRequest, path: string, hostHeader: string, onTimeout: OnTimeout): Promise<Omit<HttpClientResponse, 'echo' | 'finalPath'>> {
  const headers: Record<string, string> = { ...req.headers };
  headers['X-Echo-Set-Header'] = req.echoSetHeader ?? '';
  const tls = req.protocol === 'HTTPS';
  const servername = req.serverName ?? hostHeader.replace(/:\d+$/, '');
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = {
      host: req.address.host,
      port: req.address.port,
      method: req.method,
      path,
      agent: false,
      setHost: false,
      headers: { Host: hostHeader, ...headers },
      ...(tls ? { servername, ca: req.ca, ALPNProtocols: ['http/1.1'], checkServerIdentity: goStyleServerIdentity } : {}),
    };
    const r = (tls ? https : http).request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, headers: pairsFromRaw(res.rawHeaders), body: Buffer.concat(chunks).toString('utf8') }));
    });
    r.on('error', (e) => reject(new ConformanceClientError(`${req.method} ${hostHeader}${path}: ${e.message}`, { cause: e })));
    onTimeout(() => r.destroy());
    r.end(req.body);
  });
}

function once2(req: HttpClientRequest, path: string, hostHeader: string, onTimeout: OnTimeout): Promise<Omit<HttpClientResponse, 'echo' | 'finalPath'>> {
  const tls = req.protocol === 'H2';
  const authority = `${tls ? 'https' : 'http'}://${req.address.host}:${req.address.port}`;
  const servername = req.serverName ?? hostHeader.replace(/:\d+$/, '');
  return new Promise((resolve, reject) => {
    const session = http2.connect(authority, tls ? { servername, ca: req.ca, ALPNProtocols: ['h2'], checkServerIdentity: goStyleServerIdentity } : {});
    onTimeout(() => session.destroy());
    session.on('error', (e) => reject(new ConformanceClientError(`${req.method} ${hostHeader}${path} (h2): ${e.message}`, { cause: e })));
    const headers: http2.OutgoingHttpHeaders = {
      ':method': req.method,
      ':path': path,
      ':authority': hostHeader,
      ':scheme': tls ? 'https' : 'http',
      'x-echo-set-header': req.echoSetHeader ?? '',
    };
    for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v;
    const stream = session.request(headers, { endStream: req.body === undefined });
    let status = 0;
    let responseHeaders: Array<[string, string]> = [];
    stream.on('response', (h, flags) => {
      void flags;
      status = Number(h[':status'] ?? 0);
      responseHeaders = [];
      for (const [k, v] of Object.entries(h)) {
        if (k.startsWith(':') || v === undefined) continue;
        for (const one of Array.isArray(v) ? v : [String(v)]) responseHeaders.push([k, one]);
      }
    });
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', (e) => {
      session.destroy();
      reject(new ConformanceClientError(`${req.method} ${hostHeader}${path} (h2 stream): ${e.message}`, { cause: e }));
    });
    stream.on('end', () => {
      session.close();
      resolve({ statusCode: status, headers: responseHeaders, body: Buffer.concat(chunks).toString('utf8') });
    });
    if (req.body !== undefined) stream.end(req.body);
  });
}

/**
 * Sends one request the way upstream's roundtripper does: a fresh connection, the case's Host, and
 * X-Echo-Set-Header always present. Follows up to 10 redirects when `followRedirects` is true (each hop
 * goes back to the same address, with the Location's host as Host).
 */
export function sendHttp(req: HttpClientRequest): Promise<HttpClientResponse> {
  const timeoutMs = req.timeoutMs ?? 10_000;
  return withDeadline(timeoutMs, `${req.method} ${req.host}${req.path}`, async (onTimeout) => {
    let path = req.path;
    let hostHeader = req.host === '' ? `${req.address.host}:${req.address.port}` : req.host;
    for (let hop = 0; ; hop++) {
      const one = req.protocol === 'H2' || req.protocol === 'H2C_PRIOR_KNOWLEDGE' ? await once2(req, path, hostHeader, onTimeout) : await once1(req, path, hostHeader, onTimeout);
      const location = one.headers.find(([n]) => n.toLowerCase() === 'location')?.[1];
      if (!req.followRedirects || !REDIRECT_CODES.has(one.statusCode) || location === undefined || hop >= 10) {
        return { ...one, echo: parseEcho(one.headers, one.body), finalPath: path };
      }
      const next = new URL(location, `http://${hostHeader}${path}`);
      path = next.pathname + next.search;
      hostHeader = next.host;
    }
  });
}

export interface GrpcClientRequest {
  address: Address;
  /** `:authority` to send (grpc.WithAuthority); null/undefined keeps the address. */
  authority?: string | null;
  /** Echo, EchoTwo or EchoThree. */
  method: string;
  metadata: Record<string, string>;
  timeoutMs?: number;
}

export interface GrpcEchoAssertions {
  fully_qualified_method: string;
  headers: Array<{ key: string; value: string }>;
  authority: string;
  context: { namespace: string; ingress: string; service_name: string; pod: string } | null;
}

export interface GrpcClientResponse {
  /** Status name as in the corpus: OK, UNIMPLEMENTED… */
  code: string;
  details: string;
  assertions: GrpcEchoAssertions | undefined;
}

/** grpc-js status number → corpus name (`OK`, `UNIMPLEMENTED`, …). */
export function grpcCodeName(code: number): string {
  return (grpc.status as unknown as Record<number, string>)[code] ?? `CODE_${code}`;
}

/** One unary GrpcEcho call over h2c with a fresh channel. */
export function sendGrpc(req: GrpcClientRequest): Promise<GrpcClientResponse> {
  const Ctor = grpcEchoClientConstructor();
  const options: grpc.ChannelOptions = { 'grpc.use_local_subchannel_pool': 1 };
  if (req.authority !== undefined && req.authority !== null && req.authority !== '') options['grpc.default_authority'] = req.authority;
  const client = new Ctor(`${req.address.host}:${req.address.port}`, grpc.credentials.createInsecure(), options) as grpc.Client &
    Record<string, (r: unknown, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v?: any) => void) => void>;
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(req.metadata)) metadata.add(k.toLowerCase(), v);
  const call = client[req.method];
  if (typeof call !== 'function') {
    client.close();
    return Promise.reject(new ConformanceClientError(`GrpcEcho has no method ${req.method}`));
  }
  return new Promise((resolve) => {
    call.call(client, {}, metadata, { deadline: Date.now() + (req.timeoutMs ?? 10_000) }, (error, value) => {
      client.close();
      if (error) resolve({ code: grpcCodeName(error.code), details: error.details, assertions: undefined });
      else resolve({ code: 'OK', details: '', assertions: (value as { assertions?: GrpcEchoAssertions }).assertions });
    });
  });
}

export type WebSocketFrame = { text: string } | { binary: number[] };

/** Dials `url`, sends each frame in turn and collects the frame received after it. */
export function exchangeWebSocket(url: string, frames: readonly WebSocketFrame[], options: { origin?: string; timeoutMs?: number } = {}): Promise<WebSocketFrame[]> {
  return withDeadline(options.timeoutMs ?? 5_000, `websocket ${url}`, (onTimeout) => {
    return new Promise<WebSocketFrame[]>((resolve, reject) => {
      const ws = new WebSocket(url, options.origin === undefined ? {} : { origin: options.origin });
      onTimeout(() => ws.terminate());
      const received: WebSocketFrame[] = [];
      const sendNext = (): void => {
        const frame = frames[received.length];
        if (frame === undefined) {
          ws.close();
          resolve(received);
          return;
        }
        if ('text' in frame) ws.send(frame.text, { binary: false });
        else ws.send(Buffer.from(frame.binary), { binary: true });
      };
      ws.on('open', sendNext);
      ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
        received.push(isBinary ? { binary: [...buf] } : { text: buf.toString('utf8') });
        sendNext();
      });
      ws.on('error', (e) => reject(new ConformanceClientError(`websocket ${url}: ${e.message}`, { cause: e })));
      ws.on('unexpected-response', (_req, res) => {
        reject(new ConformanceClientError(`websocket ${url}: upgrade refused with HTTP ${res.statusCode ?? 0}`));
        ws.terminate();
      });
    });
  });
}
