// Reference proxy for the one-hop benchmark: the textbook Node proxy, core `http.createServer` +
// `http.request` over a keep-alive agent. DESIGN.md's 46.9 µs/request figure is this shape.
// Usage: node --import tsx bench/lib/node-http-proxy.ts --port P --upstream U
import { createServer, request, Agent } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' }, upstream: { type: 'string' } } });
const agent = new Agent({ keepAlive: true, maxSockets: 512 });
const upstream = Number(values.upstream);

createServer((req, res) => {
  const up = request({ host: '127.0.0.1', port: upstream, method: req.method, path: req.url, headers: req.headers, agent }, (ur) => {
    res.writeHead(ur.statusCode ?? 502, ur.headers);
    ur.pipe(res);
  });
  up.on('error', () => {
    res.statusCode = 502;
    res.end();
  });
  req.pipe(up);
}).listen(Number(values.port), '127.0.0.1');
