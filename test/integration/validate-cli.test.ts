// `weft validate` as a user runs it (a real process): compiler-style output with the source line
// and a caret, JSON output, directories, and the exit codes 0 (valid), 1 (invalid), 2 (usage).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigIssue } from '../../src/config/index.ts';

const repo = new URL('../..', import.meta.url).pathname;
const bin = join(repo, 'bin', 'weft.js');
const dir = mkdtempSync(join(tmpdir(), 'weft-validate-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function weft(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: repo, env: { ...process.env, WEFT_FROM_SOURCE: '1' }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

const SERVICE = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata:
  name: reviews
spec:
  ports:
    - port: 80
`;

const ROUTE_WITH_ERRORS = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: reviews
spec:
  rules:
    - retires: 3
      backendRefs:
        - name: reviews
          port: 80
          weight: ten
`;

test('an invalid file: compiler-style errors with the source line, a caret and the suggestion; exit 1', () => {
  const svc = file('human/service.yaml', SERVICE);
  const route = file('human/route.yaml', ROUTE_WITH_ERRORS);
  const r = weft('validate', svc, route);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(
    r.stdout,
    [
      `${route}:7:7: error[UNKNOWN_FIELD]: unknown field \`retires\`; did you mean \`retry\`?`,
      '  --> HTTPRoute default/reviews at spec.rules[0].retires',
      '  |',
      '7 |     - retires: 3',
      '  |       ^^^^^^^',
      '  = expected one of: name, matches, filters, backendRefs, timeouts, retry; found retires',
      '  = help: did you mean `retry`?',
      '',
      `${route}:11:19: error[WRONG_TYPE]: expected integer, found string "ten"`,
      '  --> HTTPRoute default/reviews at spec.rules[0].backendRefs[0].weight',
      '   |',
      '11 |           weight: ten',
      '   |                   ^^^',
      '  = expected integer; found string "ten"',
      '',
      'invalid: 2 errors, 0 warnings in 2 files',
      '',
    ].join('\n'),
  );
  assert.equal(r.stderr, '');
});

test('--output json: every issue with file, line, column, path, expected, found, suggestion', () => {
  const svc = file('json/service.yaml', SERVICE);
  const route = file('json/route.yaml', ROUTE_WITH_ERRORS);
  const r = weft('validate', '--output', 'json', svc, route);
  assert.equal(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as { valid: boolean; errors: ConfigIssue[]; warnings: ConfigIssue[]; stats: { files: number; documents: number } };
  assert.equal(report.valid, false);
  assert.deepEqual(report.errors[0], {
    code: 'UNKNOWN_FIELD',
    severity: 'error',
    file: route,
    line: 7,
    column: 7,
    path: 'spec.rules[0].retires',
    message: 'unknown field `retires`; did you mean `retry`?',
    expected: 'one of: name, matches, filters, backendRefs, timeouts, retry',
    found: 'retires',
    suggestion: 'retry',
    resource: 'HTTPRoute default/reviews',
  });
  assert.deepEqual(
    report.errors.map((e) => [e.code, e.line, e.column, e.path]),
    [
      ['UNKNOWN_FIELD', 7, 7, 'spec.rules[0].retires'],
      ['WRONG_TYPE', 11, 19, 'spec.rules[0].backendRefs[0].weight'],
    ],
  );
  assert.equal(report.stats.files, 2);
  assert.equal(report.stats.documents, 2);
});

test('a valid directory (recursively, .yaml/.yml/.json, multi-document): exit 0 with a summary; warnings allowed', () => {
  file('ok/a/services.yaml', `${SERVICE}---\n${SERVICE.replace('reviews', 'ratings')}`);
  file('ok/b/route.json', JSON.stringify({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'reviews' },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'reviews', port: 80 }], rules: [{ backendRefs: [{ name: 'reviews', port: 80 }, { name: 'ratings', port: 80 }] }] },
  }));
  file('ok/b/policy.yml', `apiVersion: weft.dev/v1alpha1\nkind: MTLSPolicy\nmetadata:\n  name: ghost\nspec:\n  targetRefs:\n    - kind: Service\n      name: ghost\n  mode: PERMISSIVE\n`);
  file('ok/notes.txt', 'not config');
  file('ok/.hidden.yaml', 'garbage: [');
  // The directory and one of its files: the file is read once (no duplicate-resource errors).
  const r = weft('validate', join(dir, 'ok'), join(dir, 'ok', 'a', 'services.yaml'));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /warning\[TARGET_NOT_FOUND\]: policy target Service `default\/ghost` does not exist/);
  assert.match(r.stdout, /valid: 4 resources in 3 files, 1 warning\n$/);
  const json = JSON.parse(weft('validate', '-o', 'json', join(dir, 'ok')).stdout) as { valid: boolean; resources: Record<string, number> };
  assert.equal(json.valid, true);
  assert.deepEqual(json.resources, { Service: 2, HTTPRoute: 1, MTLSPolicy: 1 });
  const quiet = weft('validate', '--quiet', join(dir, 'ok'));
  assert.equal(quiet.code, 0);
  assert.equal(quiet.stdout, '');
});

test('usage errors exit 2: no paths, a missing path, a bad --output, a bad --max-file-bytes', () => {
  const none = weft('validate');
  assert.equal(none.code, 2);
  assert.match(none.stderr, /missing required argument 'paths'/);
  const missing = weft('validate', join(dir, 'does-not-exist.yaml'));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /does-not-exist\.yaml: no such file or directory/);
  assert.equal(missing.stdout, '');
  const svc = file('usage/service.yaml', SERVICE);
  const output = weft('validate', '--output', 'xml', svc);
  assert.equal(output.code, 2);
  assert.match(output.stderr, /--output must be text or json/);
  const max = weft('validate', '--max-file-bytes', 'lots', svc);
  assert.equal(max.code, 2);
  assert.match(max.stderr, /--max-file-bytes must be a positive integer/);
});

test('weft validate --help describes the command and exits 0', () => {
  const r = weft('validate', '--help');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: weft validate \[options\] <paths\.\.\.>/);
  assert.match(r.stdout, /--output <format>/);
});

test('the example mesh validates cleanly', () => {
  const r = weft('validate', join(repo, 'examples', 'demo'));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^valid: \d+ resources in \d+ files, 0 warnings\n$/);
});
