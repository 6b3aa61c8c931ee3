// Runs one weft proxy from a bootstrap file, for the benchmarks, when the `weft proxy` CLI command
// is not in this checkout: loads the file with the proxy's own loader (src/proxy/runtime/bootstrap.ts),
// starts `WeftProxy`, and on SIGTERM/SIGINT drains and exits 0 (so `node --cpu-prof` writes its profile).
// Usage: node --import tsx bench/lib/weft-proxy-launcher.ts --bootstrap FILE
import { parseArgs } from 'node:util';
import { loadBootstrapFile } from '../../src/proxy/runtime/bootstrap.ts';
import { WeftProxy } from '../../src/proxy/proxy.ts';

const { values } = parseArgs({ options: { bootstrap: { type: 'string' } } });
if (values.bootstrap === undefined) {
  process.stderr.write('usage: weft-proxy-launcher --bootstrap FILE\n');
  process.exit(2);
}
const loaded = loadBootstrapFile(values.bootstrap);
if (!loaded.ok) {
  process.stderr.write(`${loaded.error.message}\n`);
  process.exit(1);
}
const proxy = await WeftProxy.start({ snapshot: loaded.value });
process.stdout.write(`weft proxy listening: ${JSON.stringify({ outbound: proxy.addresses.outbound?.port, inbound: proxy.addresses.inbound?.port })}\n`);
let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void proxy
    .drain(1000)
    .catch(() => {})
    .then(() => proxy.close())
    .finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
