// The `weft` command as a user runs it: help on every command, version, and exit code 2 for usage errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const bin = new URL('../../bin/weft.js', import.meta.url).pathname;

function weft(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, WEFT_FROM_SOURCE: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('weft --help lists the commands and exits 0', () => {
  const r = weft('--help');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Usage: weft/);
  assert.match(r.stdout, /version/);
});

test('weft version prints the package version, as text and JSON', () => {
  const text = weft('version');
  assert.equal(text.code, 0);
  assert.match(text.stdout, /^weft \d+\.\d+\.\d+ \(node /);
  const json = JSON.parse(weft('version', '--output', 'json').stdout) as { weft: string; node: string };
  assert.match(json.weft, /^\d+\.\d+\.\d+$/);
  assert.equal(json.node, process.versions.node);
});

test('an unknown command is a usage error (exit 2) with a hint', () => {
  const r = weft('no-such-command');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command/);
});

test('every subcommand answers --help with exit 0', () => {
  const help = weft('--help').stdout;
  const commands = [...help.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
  assert.ok(commands.length >= 1);
  for (const command of commands) {
    const r = weft(command, '--help');
    assert.equal(r.code, 0, `${command} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`Usage: weft ${command}`));
  }
});
