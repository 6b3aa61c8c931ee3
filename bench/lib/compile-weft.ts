// Compiles weft's TypeScript sources to plain JavaScript for the benchmarks, so a proxy runs the
// way it is deployed (compiled, `node file.js`) and not under tsx, whose loader thread and esbuild
// service add ~35 MB of RSS and a loader worker to every process. Per-file transpilation (no type
// check, ~1-3 s), `.ts` imports rewritten to `.js`, non-TS assets (e.g. .proto) copied along.
// Output: bench/results/weft-js-<pid>/ (gitignored; node_modules resolve from the repository root),
// one directory per benchmark process, removed when it exits: two benchmarks started at the same time
// in a shared checkout must not delete each other's compiled proxies (it happened: ENOENT mid-run).
// With WEFT_BENCH_REV=<git revision> the sources come from that commit instead of the working tree,
// so other people's half-written files in a shared checkout cannot break or change a run.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const COMPILED_DIR = join(root, 'bench', 'results', `weft-js-${process.pid}`);

const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  verbatimModuleSyntax: true,
  rewriteRelativeImportExtensions: true,
  sourceMap: false,
  inlineSourceMap: false,
  // V8 keeps each module's source text in the heap: without comments every proxy idles ~0.4 MB lower.
  removeComments: true,
};

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) {
      if (name !== 'node_modules' && name !== 'generated-tests') walk(full, out);
    } else out.push(full);
  }
  return out;
}

/** Transpiles one TypeScript source to ESM JavaScript with `.ts` imports rewritten to `.js`. */
export function transpile(source: string, fileName: string): string {
  return ts.transpileModule(source, { compilerOptions: options, fileName }).outputText;
}

/**
 * Compiles `src/**` plus the given extra files (relative to the repository root) into
 * COMPILED_DIR (or `outDir`, e.g. a second tree from an older revision for a same-run comparison),
 * replacing what was there. Returns the output directory.
 */
export function compileWeft(
  extra: readonly string[] = ['bench/lib/weft-proxy-launcher.ts'],
  rev: string | undefined = process.env.WEFT_BENCH_REV || undefined,
  outDir: string = COMPILED_DIR,
): string {
  rmSync(outDir, { recursive: true, force: true });
  process.once('exit', () => rmSync(outDir, { recursive: true, force: true }));
  const emit = (rel: string, read: () => Buffer): void => {
    if (rel.endsWith('.test.ts')) return;
    const target = join(outDir, rel);
    mkdirSync(dirname(target), { recursive: true });
    if (rel.endsWith('.ts')) writeFileSync(target.replace(/\.ts$/, '.js'), transpile(read().toString('utf8'), join(root, rel)));
    else writeFileSync(target, read());
  };
  if (rev !== undefined) {
    const git = (...args: string[]): Buffer => execFileSync('git', args, { cwd: root, maxBuffer: 64 * 1024 * 1024 });
    for (const rel of git('ls-tree', '-r', '--name-only', rev, '--', 'src').toString('utf8').split('\n').filter(Boolean)) {
      emit(rel, () => git('show', `${rev}:${rel}`));
    }
  } else {
    for (const file of walk(join(root, 'src'), [])) emit(relative(root, file), () => readFileSync(file));
  }
  // The benchmark's own launcher always comes from the working tree.
  for (const rel of extra) {
    if (rel.endsWith('.ts')) emit(rel, () => readFileSync(join(root, rel)));
    else cpSync(join(root, rel), join(outDir, rel));
  }
  // Entry of the `weft` command, as bin/weft.js would run it from dist/.
  writeFileSync(join(outDir, 'weft.js'), "import { main } from './src/cli/main.js';\nawait main(process.argv);\n");
  // package.json marks the tree as ESM; version.ts walks up to find a package.json.
  writeFileSync(join(outDir, 'package.json'), JSON.stringify({ name: 'weft-bench-build', version: 'bench', type: 'module', private: true }));
  return outDir;
}
