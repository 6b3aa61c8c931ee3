// Unit tests for the benchmark library's parsers and helpers (no processes started).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWrk, parseH2load } from './load-tools.ts';
import { parseProcStat, parseProcStatus, processTree, readProcStat, cpuSeconds } from './proc-stat.ts';
import { parseOpenLoop } from './open-loop.ts';
import { percentile, sortedPercentile, mean } from './stats.ts';
import { renderTable, judge, fmt } from './report.ts';
import { summariseProfile } from './cpu-profile.ts';
import { transpile } from './compile-weft.ts';

test('parseWrk reads the Lua summary line and sums every error kind', () => {
  const out = [
    'Running 2s test @ http://127.0.0.1:1234/',
    '  1 threads and 16 connections',
    'WRK_JSON {"requests":200000,"duration_us":2000000,"bytes":1,"connect":1,"read":2,"write":3,"status":4,"timeout":5,"p50":110,"p90":150,"p99":400,"max":9000,"mean":120.5}',
  ].join('\n');
  const r = parseWrk(out);
  assert.equal(r.requests, 200000);
  assert.equal(r.seconds, 2);
  assert.equal(r.rps, 100000);
  assert.equal(r.errors, 15);
  assert.deepEqual(r.latencyUs, { p50: 110, p90: 150, p99: 400, max: 9000, mean: 120.5 });
  assert.throws(() => parseWrk('Running 2s test\n'), (e: Error & { code?: string }) => e.code === 'BENCH_PARSE_FAILED');
});

test('parseH2load reads rate, completed requests, failures and 4xx/5xx statuses', () => {
  const out = `finished in 2.00s, 41234.50 req/s, 45.2MB/s
requests: 82469 total, 82480 started, 82469 done, 82400 succeeded, 60 failed, 9 errored, 0 timeout
status codes: 82400 2xx, 0 3xx, 0 4xx, 60 5xx
traffic: 88.5MB (92819163) total, 1.57MB (1649380) headers (space savings 90.03%), 80.53MB (84448256) data
                     min         max         mean         sd        +/- sd
time for request:      123us     12.34ms       1.20ms       333us    71.00%
`;
  const r = parseH2load(out);
  assert.equal(r.requests, 82400);
  assert.equal(r.rps, 41234.5);
  assert.equal(r.seconds, 2);
  assert.equal(r.errors, 60 + 9 + 60);
  assert.equal(r.latencyUs.max, 12340);
  assert.equal(r.latencyUs.mean, 1200);
  assert.throws(() => parseH2load('starting benchmark...'), /unexpected h2load output/);
});

test('parseProcStat counts fields after the last parenthesis (names may contain spaces and parens)', () => {
  const line = '4242 (node (weft) x) S 4200 4242 4200 0 -1 4194560 1 0 0 0 250 75 0 0 20 0 11 0 5 1 1 2';
  const s = parseProcStat(line, 100);
  assert.equal(s.pid, 4242);
  assert.equal(s.ppid, 4200);
  assert.equal(s.utime, 2.5);
  assert.equal(s.stime, 0.75);
});

test('parseProcStatus reads VmRSS and VmHWM in bytes', () => {
  const m = parseProcStatus('Name:\tnode\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n');
  assert.equal(m.rss, 40960 * 1024);
  assert.equal(m.hwm, 51200 * 1024);
  assert.deepEqual(parseProcStatus('Name:\tzombie\n'), { rss: 0, hwm: 0 });
});

test('this process is in its own tree, has a stat, and gains CPU time when it works', () => {
  assert.ok(processTree(process.pid).includes(process.pid));
  assert.equal(readProcStat(process.pid)?.pid, process.pid);
  assert.equal(readProcStat(2 ** 30), undefined);
  const before = cpuSeconds([process.pid]);
  const until = Date.now() + 60;
  let x = 0;
  while (Date.now() < until) x += Math.sqrt(x + 1);
  assert.ok(cpuSeconds([process.pid]) > before, `cpu did not advance (${x})`);
});

test('parseOpenLoop finds the report line among other output', () => {
  const r = parseOpenLoop('noise\nOPEN_LOOP_JSON {"rate":1000,"completed":5000,"errors":0}\n');
  assert.equal(r.rate, 1000);
  assert.equal(r.completed, 5000);
  assert.throws(() => parseOpenLoop('nothing'), /no report/);
});

test('percentiles use nearest rank', () => {
  const v = [5, 1, 4, 2, 3, 6, 7, 8, 9, 10];
  assert.equal(percentile(v, 50), 5);
  assert.equal(percentile(v, 90), 9);
  assert.equal(percentile(v, 99), 10);
  assert.equal(percentile(v, 0), 1);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.equal(sortedPercentile([1, 2, 3, 4], 75), 3);
  assert.equal(mean([1, 2, 3]), 2);
  assert.deepEqual(v.slice(0, 2), [5, 1], 'input is not sorted in place');
});

test('renderTable aligns columns; judge passes, fails and marks unmeasured targets', () => {
  const t = renderTable(['path', 'rps'], [['direct', 1000], ['weft', 25.5], ['x', undefined]]);
  const lines = t.split('\n');
  assert.equal(lines[0], 'path      rps');
  assert.equal(lines[2], 'direct  1,000');
  assert.equal(lines[3], 'weft    25.50');
  assert.equal(lines[4], 'x           -');
  assert.equal(fmt(Number.NaN), '-');
  const j = judge([
    { name: 'a', value: 0.2, limit: 0.3, kind: 'max', unit: 'ms' },
    { name: 'b', value: 0.4, limit: 0.3, kind: 'max', unit: 'ms' },
    { name: 'c', value: 0.6, limit: 0.5, kind: 'min', unit: 'x' },
    { name: 'd', value: undefined, limit: 1, kind: 'min', unit: 'x' },
  ]);
  assert.deepEqual(j.map((r) => r.pass), [true, false, true, null]);
});

test('summariseProfile attributes self time to functions, files and categories, excluding idle', () => {
  const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 9, columnNumber: 0 });
  const profile = {
    nodes: [
      { id: 1, callFrame: frame('(root)', ''), children: [2, 3, 4, 5] },
      { id: 2, callFrame: frame('(idle)', '') },
      { id: 3, callFrame: frame('parseHead', 'file:///work/main/src/proxy/protocols/http1/codec.ts') },
      { id: 4, callFrame: frame('writeGeneric', 'node:internal/stream_base_commons') },
      { id: 5, callFrame: frame('(garbage collector)', '') },
    ],
    samples: [2, 3, 3, 4, 5, 2],
    timeDeltas: [1000, 3000, 3000, 2000, 2000, 1000],
    startTime: 0,
    endTime: 12000,
  };
  const s = summariseProfile(profile, 10);
  assert.equal(s.busyMs, 10);
  assert.ok(Math.abs(s.idlePercent - (100 * 2) / 12) < 1e-9);
  assert.deepEqual(s.functions[0], { name: 'parseHead src/proxy/protocols/http1/codec.ts:10', percent: 60, ms: 6 });
  assert.deepEqual(s.categories.map((c) => c.name), ['weft (src/)', 'node internals (node:*)', 'GC']);
  assert.equal(s.files[0]?.name, 'src/proxy/protocols/http1/codec.ts');
});

test('summariseProfile with windows counts only the samples taken inside them', () => {
  const frame = (functionName: string) => ({ functionName, url: 'file:///x/src/a.ts', lineNumber: 0, columnNumber: 0 });
  const profile = {
    nodes: [
      { id: 1, callFrame: frame('startup') },
      { id: 2, callFrame: frame('hot') },
    ],
    // Samples at t = 1000+100, +200 (startup), +1100, +1200 (hot), +5000 (startup again, outside).
    samples: [1, 1, 2, 2, 1],
    timeDeltas: [100, 100, 900, 100, 3800],
    startTime: 1000,
    endTime: 7000,
  };
  const all = summariseProfile(profile, 10);
  assert.equal(all.functions.length, 2);
  const hot = summariseProfile(profile, 10, [[2000, 2300]]);
  assert.deepEqual(hot.functions.map((f) => f.name), ['hot src/a.ts:1']);
  assert.equal(hot.busyMs, 1);
});

test('transpile strips types and rewrites relative .ts imports to .js (package imports untouched)', () => {
  const out = transpile(
    "import { a } from './a.ts';\nimport type { T } from '../t.ts';\nimport { pino } from 'pino';\nexport const x: number = a as number;\nexport type U = T;\n",
    'x.ts',
  );
  assert.match(out, /from "\.\/a\.js"|from '\.\/a\.js'/);
  assert.doesNotMatch(out, /\.ts['"]/);
  assert.doesNotMatch(out, /t\.js/, 'type-only imports disappear');
  assert.match(out, /from 'pino'|from "pino"/);
  assert.doesNotMatch(out, /: number/);
});
