// Compiles weft's TypeScript sources to plain JavaScript for the benchmarks, so a proxy runs the
// way it is deployed (compiled, `node file.js`) and not under tsx, whose loader thread and esbuild
// service add ~35 MB of RSS and a loader worker to every process. Per-file transpilation (no type
// check, ~1-3 s), `.ts` imports rewritten to `.js`, non-TS assets (e.g. .proto) copied along.
// Output: bench/results/weft-js/ (gitignored; node_modules resolve from the repository root).
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const COMPILED_DIR = join(root, 'bench', 'results', 'weft-js');

const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  verbatimModuleSyntax: true,
  rewriteRelativeImportExtensions: true,
  sourceMap: false,
  inlineSourceMap: false,
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
 * COMPILED_DIR, replacing what was there. Returns the output directory.
 */
export function compileWeft(extra: readonly string[] = ['bench/lib/weft-proxy-launcher.ts']): string {
  rmSync(COMPILED_DIR, { recursive: true, force: true });
  const files = [...walk(join(root, 'src'), []), ...extra.map((f) => join(root, f))];
  for (const file of files) {
    const rel = relative(root, file);
    if (file.endsWith('.test.ts')) continue;
    const target = join(COMPILED_DIR, rel);
    mkdirSync(dirname(target), { recursive: true });
    if (file.endsWith('.ts')) writeFileSync(target.replace(/\.ts$/, '.js'), transpile(readFileSync(file, 'utf8'), file));
    else cpSync(file, target);
  }
  // Entry of the `weft` command, as bin/weft.js would run it from dist/.
  writeFileSync(join(COMPILED_DIR, 'weft.js'), "import { main } from './src/cli/main.js';\nawait main(process.argv);\n");
  // package.json marks the tree as ESM; version.ts walks up to find a package.json.
  writeFileSync(join(COMPILED_DIR, 'package.json'), JSON.stringify({ name: 'weft-bench-build', version: 'bench', type: 'module', private: true }));
  return COMPILED_DIR;
}
