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

/** The subcommand names listed under "Commands:" in a help text. */
function listedCommands(help: string): string[] {
  const section = help.split(/^Commands:$/m)[1] ?? '';
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
}

test('every subcommand, nested ones too, answers --help with exit 0', () => {
  const top = listedCommands(weft('--help').stdout);
  assert.ok(top.length >= 1);
  const queue: string[][] = top.map((c) => [c]);
  let checked = 0;
  while (queue.length > 0) {
    const path = queue.shift()!;
    const r = weft(...path, '--help');
    assert.equal(r.code, 0, `${path.join(' ')} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`Usage: weft ${path.join(' ')}`));
    checked++;
    for (const child of listedCommands(r.stdout)) queue.push([...path, child]);
  }
  assert.ok(checked >= top.length);
});
