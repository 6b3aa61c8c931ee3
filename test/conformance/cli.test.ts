// Tests for the conformance runner CLI: in-process through runConformanceCli (table and JSON line, exit
// codes for failures, an unsupported SUT and usage errors), plus one run of scripts/conformance.ts as a
// real process for the wiring.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CORPUS_DIR } from './corpus.ts';
import { runConformanceCli } from './cli.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const skip = existsSync(join(DEFAULT_CORPUS_DIR, 'index.json')) ? false : `conformance corpus not found at ${DEFAULT_CORPUS_DIR}`;

/** Runs the CLI in this process, collecting its output. */
async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runConformanceCli(args, { out: (t) => (stdout += t), err: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

/** Runs `npm run conformance`'s script as a real process. */
function spawnScript(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/conformance.ts', ...args], { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('scripts/conformance.ts as a process: table and JSON line on stdout, exit code 0', { skip }, async () => {
  const r = await spawnScript(['--test', 'HTTPRouteSimpleSameNamespace']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^HTTPRouteSimpleSameNamespace\s+gateway\s+core\s+PASSED\s+1\s+0\s+0/m);
  assert.equal((JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as { tests: { passed: number } }).tests.passed, 1);
});

test('runs the selected tests against the reference SUT: table, JSON summary line, exit 0', { skip }, async () => {
  const r = await run(['--sut', 'reference', '--test', 'HTTPRouteSimpleSameNamespace', 'HTTPRouteQueryParamMatching']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^HTTPRouteSimpleSameNamespace\s+gateway\s+core\s+PASSED\s+1\s+0\s+0/m);
  assert.match(r.stdout, /^HTTPRouteQueryParamMatching\s+gateway\s+extended\s+PASSED\s+19\s+0\s+0/m);
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  const json = JSON.parse(last) as { kind: string; sut: string; tests: { passed: number }; cases: { passed: number; failed: number } };
  assert.equal(json.kind, 'gateway-api-conformance');
  assert.equal(json.sut, 'reference');
  assert.equal(json.tests.passed, 2);
  assert.deepEqual([json.cases.passed, json.cases.failed], [20, 0]);
});

test('--profile selects, status-only tests are reported as skipped, --full-base still passes', { skip }, async () => {
  const r = await run(['--profile', 'gateway', '--full-base', '--test', 'HTTPRouteInvalidCrossNamespaceParentRef', 'MeshBasic', 'HTTPRouteHTTPSListener']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^HTTPRouteHTTPSListener\s+gateway\s+core\s+PASSED\s+3\s+0\s+0/m);
  assert.match(r.stdout, /HTTPRouteInvalidCrossNamespaceParentRef\s+gateway\s+core\s+SKIPPED.*status-only/);
  assert.doesNotMatch(r.stdout, /^MeshBasic/m, 'mesh test filtered out by --profile gateway');
});

test('a failing case exits 1 and prints the differences on stderr', { skip }, async () => {
  const r = await run(['--test', 'HTTPRouteHeaderMatching', '--reference-fault', 'ignore-header-matches']);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^HTTPRouteHeaderMatching\s+gateway\s+core\s+FAILED/m);
  assert.match(r.stderr, /FAIL HTTPRouteHeaderMatching\/\d+ .*\n\s+backend: expected a pod of infra-backend-v/);
  const json = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as { failed: string[] };
  assert.deepEqual(json.failed, ['HTTPRouteHeaderMatching']);
});

test('--sut weft exits 1 with the not-yet-supported message', { skip }, async () => {
  const r = await run(['--sut', 'weft', '--test', 'HTTPRouteSimpleSameNamespace']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not yet supported: weft has no Gateway listeners.*\[CONFORMANCE_SUT_UNSUPPORTED\]/);
});

test('usage errors exit 2: unknown test, unknown SUT', { skip }, async () => {
  const unknown = await run(['--test', 'NoSuchTest']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown test\(s\): NoSuchTest/);
  const badSut = await run(['--sut', 'envoy']);
  assert.equal(badSut.code, 2);
  assert.match(badSut.stderr, /Allowed choices are reference, weft/);
});
