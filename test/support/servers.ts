// Real servers on 127.0.0.1 port 0 for proxy tests: HTTP/1.1 and h2c with a recording handler, a
// TCP echo (optionally speaking first with a banner), and helpers to collect bodies. Each builder
// returns { port, close() } plus what it recorded.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Closable {
  readonly port: number;
  close(): Promise<void>;
}

/** What a server saw of one request. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  trailers: Record<string, string | string[] | undefined>;
}

export type Http1Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;

/** Reads a stream to a Buffer. */
export function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/**
 * An HTTP/1.1 server. Default handler: 200 with a JSON echo `{method, path, headers, body}`.
 * `handler` gets the fully read body (use `streaming: true` to receive the raw request instead).
 */
export async function startHttpServer(
  handler?: Http1Handler,
  options: { streaming?: (req: http.IncomingMessage, res: http.ServerResponse) => void } = {},
): Promise<Closable & { requests: ReceivedRequest[]; server: http.Server }> {
  const requests: ReceivedRequest[] = [];
  const server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    if (options.streaming) return options.streaming(req, res);
    collect(req).then((body) => {
      requests.push({ method: req.method!, path: req.url!, headers: req.headers, body, trailers: req.trailers });
      if (handler) return handler(req, res, body);
      const text = JSON.stringify({ method: req.method, path: req.url, headers: req.headers, body: body.toString() });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    }, () => res.destroy());
  });
  const port = await listen(server);
  return {
    port,
    server,
    requests,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** An h2c server with a stream handler (default: echo the body, `x-echo-*` request headers as response headers). */
export async function startH2cServer(
  handler?: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
): Promise<Closable & { server: http2.Http2Server }> {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    if (handler) return handler(stream, headers);
    void collect(stream).then((body) => {
      stream.respond({ ':status': 200, 'content-type': 'application/octet-stream', 'x-method': String(headers[':method']) });
      stream.end(body);
    });
  });
  const port = await listen(server);
  return {
    port,
    server,
    close: () =>
      new Promise((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A TCP echo server; with `banner`, it writes the banner first (server-speaks-first, like SMTP/MySQL). */
export async function startTcpServer(options: { banner?: string } = {}): Promise<Closable & { connections: number }> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0 };
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    if (options.banner) socket.write(options.banner);
    socket.pipe(socket);
  });
  const port = await listen(server);
  return {
    port,
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A port nothing listens on (bound then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
