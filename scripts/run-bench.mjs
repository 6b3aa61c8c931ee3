#!/usr/bin/env node
// Runs the benchmarks under bench/: `npm run bench` lists them, `npm run bench -- <name>` runs
// every bench/**/<name>*.ts (e.g. `e2e`, `validate`, `issue`), each printing a table and one JSON line.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) walk(full, out);
    else if (name.endsWith('.ts') && !name.startsWith('_') && !full.includes('/lib/')) out.push(relative(root, full));
  }
  return out;
}
const all = walk(join(root, 'bench'), []).sort();
// Names come first; from the first `--option` on, everything goes to the benchmark unchanged, so
// options with values (`--only a,b`, `--seconds 3`) keep their values.
const args = process.argv.slice(2);
const firstOption = args.findIndex((a) => a.startsWith('--'));
const wanted = firstOption === -1 ? args : args.slice(0, firstOption);
const extra = firstOption === -1 ? [] : args.slice(firstOption);
if (wanted.length === 0) {
  console.log('benchmarks (run with: npm run bench -- <name>):');
  for (const f of all) console.log('  ' + f);
  process.exit(0);
}
const chosen = all.filter((f) => wanted.some((w) => f.split('/').slice(1).join('/').startsWith(w) || f.includes(`/${w}`)));
let failed = 0;
for (const file of chosen) {
  console.log(`\n=== ${file}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', file, ...extra], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) failed++;
}
if (chosen.length === 0) console.error(`no benchmark matches ${wanted.join(', ')}`);
process.exit(failed || chosen.length === 0 ? 1 : 0);
