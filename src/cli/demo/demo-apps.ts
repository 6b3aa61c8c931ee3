// The demo's applications: plain HTTP servers that know nothing of the mesh. `reviews` answers with
// its version; `frontend` calls `http://reviews/` through its own proxy's outbound port (the Host
// header names the service), forwards `x-canary`, and wraps the answer.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DemoApp {
  readonly port: number;
  /** frontend only: the outbound port of its proxy, once that proxy is up. */
  setReviewsProxyPort(port: number): void;
  close(): Promise<void>;
}

export type DemoAppKind = { kind: 'reviews'; version: string } | { kind: 'frontend' };

export async function startDemoApp(app: DemoAppKind): Promise<DemoApp> {
  let reviewsPort: number | undefined;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const server = http.createServer((req, res) => {
    req.resume();
    if (app.kind === 'reviews') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ service: 'reviews', version: app.version, stars: app.version === 'v2' ? 5 : 4 }));
      return;
    }
    if (reviewsPort === undefined) {
      res.statusCode = 503;
      res.end('frontend: my proxy is not up yet\n');
      return;
    }
    const canary = req.headers['x-canary'];
    const call = http.get({ host: '127.0.0.1', port: reviewsPort, path: '/reviews', agent, headers: { host: 'reviews', ...(canary ? { 'x-canary': canary } : {}) } }, (up) => {
      let body = '';
      up.setEncoding('utf8');
      up.on('data', (d: string) => (body += d));
      up.on('end', () => {
        if (up.statusCode !== 200) {
          // Pass the mesh's explanation through: the status and the weft-error header.
          res.statusCode = up.statusCode ?? 502;
          const weftError = up.headers['weft-error'];
          if (weftError) res.setHeader('weft-error', weftError);
          res.end(body);
          return;
        }
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ service: 'frontend', reviews: JSON.parse(body) as unknown }));
      });
    });
    call.on('error', (e) => {
      res.statusCode = 502;
      res.end(`frontend: calling reviews failed: ${e.message}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    setReviewsProxyPort(port: number) {
      reviewsPort = port;
    },
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
