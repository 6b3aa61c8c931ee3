// tls-module.ts: node:tls through require() leaves the root certificate store untouched, where an ESM
// import of node:tls reads it (the facade copies every export). Each case runs in a fresh process; the
// store's strings are counted in a heap snapshot taken there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const helper = fileURLToPath(new URL('./tls-module.ts', import.meta.url));

/** How many PEM certificates the heap of a fresh process holds after `load` ran. */
function certificatesInHeap(load: string): number {
  const script = `
    ${load}
    const { getHeapSnapshot } = await import('node:v8');
    let text = '';
    for await (const chunk of getHeapSnapshot()) text += chunk;
    const { strings } = JSON.parse(text);
    process.stdout.write(String(strings.filter((s) => s.startsWith('-----BEGIN CERTIFICATE-----')).length));
  `;
  return Number(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } }));
}

test('an ESM import of node:tls materialises node\'s bundled root certificates (what the helper avoids)', () => {
  assert.ok(certificatesInHeap(`await import('node:tls');`) > 50);
});

test('tls from core/tls-module.ts works and leaves the root certificates unread', () => {
  assert.equal(certificatesInHeap(`const { tls } = await import(${JSON.stringify(helper)}); if (typeof tls.connect !== 'function') throw new Error('no tls');`), 0);
});
