// proxy-options.ts: the plain reader accepts exactly the argv it is sure about and leaves everything
// else to commander; commander's `weft proxy` is built from the same table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { plainProxyOptions, PROXY_OPTIONS } from './proxy-options.ts';
import { registerProxy } from './proxy.ts';

test('a plain bootstrap argv is read with commander\'s keys', () => {
  assert.deepEqual(plainProxyOptions(['--bootstrap', 'p.json']), { bootstrap: 'p.json' });
  assert.deepEqual(plainProxyOptions(['--check', '--bootstrap', 'p.yaml', '--drain-timeout', '500', '--node-id', 'n1']), {
    check: true,
    bootstrap: 'p.yaml',
    drainTimeout: '500',
    nodeId: 'n1',
  });
});

test('anything unusual goes to commander', () => {
  for (const argv of [
    [],
    ['--help'],
    ['-h', '--bootstrap', 'p.json'],
    ['--bootstrap', 'p.json', '--bogus'],
    ['--bootstrap=p.json'],
    ['--bootstrap', 'p.json', '--bootstrap', 'q.json'],
    ['--bootstrap'],
    ['--bootstrap', '--check'],
    ['--bootstrap', 'p.json', 'extra'],
    ['--check'],
    ['--bootstrap', 'p.json', '--control', '127.0.0.1:15010', '--token', 't', '--ca', 'ca.pem'],
  ]) {
    assert.equal(plainProxyOptions(argv), undefined, argv.join(' '));
  }
});

test('commander\'s weft proxy has exactly the table\'s options, in its order, with its descriptions', () => {
  const program = new Command('weft');
  registerProxy(program);
  const proxy = program.commands.find((c) => c.name() === 'proxy')!;
  assert.deepEqual(
    proxy.options.map((o) => [o.long, o.description, o.mandatory]),
    PROXY_OPTIONS.map((o) => [o.flag, o.description, o.required === true]),
  );
});
