// Hostile configuration input: each case must end in a clear error (or a clear "nothing here"),
// in bounded time and memory — never a crash, a hang or a half-applied config. Cases go through the
// API and, for the file-level ones, through the real `weft validate` process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, openSync, ftruncateSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateDocuments, loadConfigFiles, type ConfigIssue, type ConfigLoadResult } from '../../src/config/index.ts';

const bin = new URL('../../bin/weft.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'weft-hostile-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function weft(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, WEFT_FROM_SOURCE: '1' }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** Runs `fn`, asserting it finishes within `ms` (a hang guard, not a benchmark) and returns its value. */
function bounded<T>(ms: number, fn: () => T): T {
  const start = performance.now();
  const value = fn();
  const elapsed = performance.now() - start;
  assert.ok(elapsed < ms, `took ${elapsed.toFixed(0)} ms (bound ${ms} ms)`);
  return value;
}

function errors(r: ConfigLoadResult): readonly ConfigIssue[] {
  assert.equal(r.ok, false, 'expected the input to be rejected');
  return r.ok ? [] : r.error;
}

const service = (name: string) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  ports:\n    - port: 80\n`;

test('empty and comment-only files: valid, zero resources, a NO_RESOURCES warning', async () => {
  for (const text of ['', '\n\n', '# only a comment\n', '---\n---\n', '\uFEFF']) {
    const r = validateDocuments([{ source: 'empty.yaml', text }]);
    assert.ok(r.ok, JSON.stringify(text));
    assert.equal(r.value.resourceCount, 0);
    assert.deepEqual(
      r.warnings.map((w) => [w.code, w.line]),
      [['NO_RESOURCES', 0]],
    );
  }
  const path = file('empty.yaml', '');
  const cli = weft('validate', path);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /warning\[NO_RESOURCES\]: no resources in this file/);
  assert.match(cli.stdout, /valid: 0 resources in 1 file, 1 warning/);
});

test('binary garbage with NUL bytes: BINARY_CONTENT at the first NUL, exit 1', () => {
  let seed = 42;
  const bytes = Buffer.alloc(64 * 1024);
  for (let i = 0; i < bytes.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    bytes[i] = seed & 0xff;
  }
  bytes[10] = 0;
  const path = file('garbage.bin.yaml', bytes);
  const cli = weft('validate', path, '--output', 'json');
  assert.equal(cli.code, 1, cli.stderr);
  const report = JSON.parse(cli.stdout) as { valid: boolean; errors: ConfigIssue[] };
  assert.equal(report.valid, false);
  assert.equal(report.errors.length, 1);
  assert.equal(report.errors[0]?.code, 'BINARY_CONTENT');
  assert.equal(report.errors[0]?.message, 'NUL byte found; this looks like a binary file, not YAML or JSON');
  // In memory the same check applies to text.
  const r = validateDocuments([{ source: 'mem', text: 'a: 1\nb: \0\n' }]);
  assert.deepEqual(
    errors(r).map((i) => [i.code, i.line, i.column]),
    [['BINARY_CONTENT', 2, 4]],
  );
});

test('invalid UTF-8: INVALID_UTF8 with the line and column of the bad byte', async () => {
  const path = file('latin1.yaml', Buffer.concat([Buffer.from('apiVersion: v1\nkind: Service\nmetadata:\n  name: caf'), Buffer.from([0xe9]), Buffer.from('\n')]));
  const r = await loadConfigFiles([path]);
  assert.deepEqual(
    errors(r).map((i) => [i.code, i.line, i.column, i.message]),
    [['INVALID_UTF8', 4, 12, 'file is not valid UTF-8 text']],
  );
});

test('printable garbage: a YAML syntax error or a not-a-mapping error, never a crash', () => {
  const samples = ['}{][::--!!&&**%%', ':\n:\n- - - :', '"unterminated', '[1, 2', 'just a sentence of prose.', '- a\n- b\n', '42', '{"json": true'];
  for (const text of samples) {
    const r = bounded(5000, () => validateDocuments([{ source: 'junk.yaml', text }]));
    const codes = errors(r).map((i) => i.code);
    assert.ok(codes.length > 0, text);
    for (const c of codes) assert.ok(['YAML_SYNTAX', 'NOT_AN_OBJECT', 'DUPLICATE_KEY'].includes(c), `${JSON.stringify(text)} → ${c}`);
    for (const i of errors(r)) assert.ok(i.line >= 1 && i.column >= 1, `${JSON.stringify(text)} has a position`);
  }
  const prose = validateDocuments([{ source: 'junk.yaml', text: 'just a sentence of prose.' }]);
  assert.equal(errors(prose)[0]?.message, 'expected a mapping with apiVersion, kind, metadata and spec, found string "just a sentence of prose."');
});

test('a 100 MB file is refused by size before it is read (the error names the limit)', () => {
  const path = join(dir, 'huge.yaml');
  const fd = openSync(path, 'w');
  ftruncateSync(fd, 100 * 1024 * 1024); // sparse: costs no disk or time
  closeSync(fd);
  const before = process.memoryUsage().rss;
  const cli = bounded(30_000, () => weft('validate', path, '--output', 'json'));
  assert.equal(cli.code, 1, cli.stderr);
  const report = JSON.parse(cli.stdout) as { errors: ConfigIssue[] };
  assert.deepEqual(
    report.errors.map((i) => [i.code, i.message]),
    [['FILE_TOO_LARGE', 'file is 104857600 bytes, larger than the limit of 8388608 bytes; not read']],
  );
  assert.ok(process.memoryUsage().rss - before < 50 * 1024 * 1024);
  // The limit is configurable: a small file over a tiny limit is refused the same way.
  const small = file('small.yaml', service('a'));
  const tiny = weft('validate', small, '--max-file-bytes', '10');
  assert.equal(tiny.code, 1);
  assert.match(tiny.stdout, /error\[FILE_TOO_LARGE\]: file is \d+ bytes, larger than the limit of 10 bytes; not read/);
  // In memory, an oversized text is refused without being parsed.
  const r = validateDocuments([{ source: 'big', text: 'a'.repeat(9 * 1024 * 1024) }]);
  assert.deepEqual(
    errors(r).map((i) => i.code),
    ['FILE_TOO_LARGE'],
  );
});

test('a YAML alias bomb ("billion laughs") is refused with ALIAS_LIMIT, quickly', () => {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const cur = String.fromCharCode(97 + i);
    lines.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(',')}]`);
  }
  const text = lines.join('\n') + '\n';
  const r = bounded(5000, () => validateDocuments([{ source: 'bomb.yaml', text }]));
  assert.deepEqual(
    errors(r).map((i) => [i.code, i.line, i.column]),
    [['ALIAS_LIMIT', 1, 1]],
  );
  assert.match(errors(r)[0]?.message ?? '', /too many alias expansions \(more than 100\)/);
  // A few legitimate aliases are fine.
  const ok = validateDocuments([{ source: 'alias.yaml', text: `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata:\n  name: a\n  labels: &l {app: a}\n  annotations: *l\nspec:\n  ports: [{port: 80}]\n` }]);
  assert.ok(ok.ok, JSON.stringify(ok));
  assert.deepEqual(ok.value.services.get('default/a')?.metadata.annotations, { app: 'a' });
});

test('10,000-deep nesting (flow and block) is refused with DEPTH_LIMIT, without blowing the stack', () => {
  const flow = '['.repeat(10_000) + ']'.repeat(10_000);
  // Block nesting: indentation grows by one per level (1,000 levels — 10,000 would be a 50 MB file,
  // refused by size), repeated 10 times; and 10,000 compact `- - - x` sequences on one line.
  let block = '';
  for (let i = 0; i < 10_000; i++) block += `${' '.repeat(i % 1000)}k:\n`;
  const compact = '- '.repeat(10_000) + 'x\n';
  const inSpec = `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`;
  for (const [name, text] of [
    ['flow', flow],
    ['block', block],
    ['compact sequences', compact],
    ['inside a resource', inSpec],
  ] as const) {
    const r = bounded(20_000, () => validateDocuments([{ source: `${name}.yaml`, text }]));
    const issues = errors(r);
    assert.deepEqual(
      issues.map((i) => i.code),
      ['DEPTH_LIMIT'],
      name,
    );
    assert.equal(issues[0]?.message, 'nesting deeper than 64 levels', name);
    assert.ok((issues[0]?.line ?? 0) >= 1, name);
  }
  // 64 levels are still accepted by the parser (the schema then judges the content).
  const ok = validateDocuments([{ source: 'deep-ok.yaml', text: '['.repeat(63) + ']'.repeat(63) }]);
  assert.deepEqual(
    errors(ok).map((i) => i.code),
    ['NOT_AN_OBJECT'],
  );
});

test('duplicate keys: DUPLICATE_KEY at the second key, naming the first position', () => {
  const text = `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n    - port: 80\n  ports:\n    - port: 81\n`;
  const r = validateDocuments([{ source: 'dup.yaml', text }]);
  assert.deepEqual(
    errors(r).map((i) => `${i.line}:${i.column} ${i.code} ${i.message}`),
    ['8:3 DUPLICATE_KEY duplicate key `ports` (first defined at line 6, column 3)'],
  );
});

test('wrong types everywhere: every error reported with its path, capped with an "and N more" line', () => {
  const docs: string[] = [];
  for (let i = 0; i < 300; i++) {
    docs.push(`apiVersion: weft.dev/v1alpha1
kind: Service
metadata:
  name: 42
  namespace: [x]
  labels: true
spec:
  ports: {port: eighty}
  selector: 7
  hosts: true
`);
  }
  const text = docs.join('---\n');
  const r = bounded(10_000, () => validateDocuments([{ source: 'types.yaml', text }]));
  const issues = errors(r);
  // 6 errors per document × 300 = 1800; the first 1000 are listed, then one summary line.
  assert.equal(issues.length, 1001);
  assert.deepEqual(
    issues.slice(0, 6).map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`),
    [
      '4:9 metadata.name: expected string, found integer 42',
      '5:14 metadata.namespace: expected string, found sequence',
      '6:11 metadata.labels: expected mapping, found boolean true',
      '8:10 spec.ports: expected sequence, found mapping',
      '9:13 spec.selector: expected mapping, found integer 7',
      '10:10 spec.hosts: expected sequence, found boolean true',
    ],
  );
  const last = issues[1000];
  assert.equal(last?.code, 'TOO_MANY_ISSUES');
  assert.equal(last?.message, 'and 800 more errors not shown (limit 1000)');
});

test('many tiny documents and one huge scalar stay bounded', () => {
  const many = validateDocuments([{ source: 'many.yaml', text: '---\n{}\n'.repeat(20_000) }], {});
  assert.equal(errors(many).length, 1001);
  assert.equal(errors(many)[0]?.code, 'MISSING_FIELD');
  const big = `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata:\n  name: a\n  annotations:\n    blob: "${'x'.repeat(5 * 1024 * 1024)}"\nspec:\n  ports: [{port: 80}]\n`;
  const r = bounded(10_000, () => validateDocuments([{ source: 'big-scalar.yaml', text: big }]));
  assert.ok(r.ok);
});

test('invalid input is never half-applied: one bad document rejects the whole set', () => {
  const text = [service('a'), service('b'), service('C')].join('---\n');
  const r = validateDocuments([{ source: 'set.yaml', text }]);
  assert.equal(r.ok, false);
  assert.equal('value' in r, false);
  assert.equal(r.stats.documents, 3);
});

test('mutation fuzzing of valid fixtures never throws, always answers, and both parsers agree', async () => {
  const { readFileSync, readdirSync } = await import('node:fs');
  const root = new URL('../fixtures/config/', import.meta.url).pathname;
  const texts = readdirSync(root).map((kind) => readFileSync(join(root, kind, 'valid.yaml'), 'utf8'));
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const alphabet = ' \n\t:-[]{}"\'#&*!|>?,%@`0aZ\u00e9\uFFFD';
  let rejected = 0;
  for (let i = 0; i < 400; i++) {
    let text = texts[rand(texts.length)] as string;
    for (let m = 0; m <= rand(4); m++) {
      const at = rand(text.length);
      const op = rand(3);
      if (op === 0) text = text.slice(0, at) + alphabet[rand(alphabet.length)] + text.slice(at + 1);
      else if (op === 1) text = text.slice(0, at) + text.slice(at + 1 + rand(8));
      else text = text.slice(0, at) + text.slice(rand(text.length)).slice(0, 20) + text.slice(at);
    }
    const results = (['auto', 'precise'] as const).map((parser) => validateDocuments([{ source: 'fuzz.yaml', text }], { parser }));
    for (const r of results) {
      assert.equal(typeof r.ok, 'boolean');
      if (!r.ok) {
        rejected++;
        for (const issue of r.error) assert.ok(issue.line >= 0 && issue.column >= 0 && issue.message.length > 0, JSON.stringify(issue));
      }
    }
    // Two parsers, one meaning: the fast path never accepts what the precise parser rejects, and
    // both build the same config.
    const [fast, precise] = results as [ConfigLoadResult, ConfigLoadResult];
    assert.equal(fast.ok, precise.ok, text);
    if (fast.ok && precise.ok) assert.deepEqual(fast.value, precise.value);
  }
  assert.ok(rejected > 100, `only ${rejected} mutations were rejected`);
});
