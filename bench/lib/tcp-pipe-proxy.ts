// Reference "proxy" for the one-hop benchmark: a raw Node TCP pipe (no HTTP parsing at all), the
// floor for any Node proxy. Usage: node --import tsx bench/lib/tcp-pipe-proxy.ts --port P --upstream U
import { createServer, connect } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' }, upstream: { type: 'string' } } });
const upstream = Number(values.upstream);

createServer({ noDelay: true }, (client) => {
  const server = connect({ host: '127.0.0.1', port: upstream, noDelay: true });
  client.pipe(server);
  server.pipe(client);
  const close = (): void => {
    client.destroy();
    server.destroy();
  };
  client.on('error', close);
  server.on('error', close);
  client.on('close', close);
  server.on('close', close);
}).listen(Number(values.port), '127.0.0.1');
