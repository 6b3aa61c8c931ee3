// `weft version`: prints the package version and the Node.js runtime.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';

/** The version in weft's package.json, found by walking up (works from src/ and from dist/src/). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export function registerVersion(program: Command): void {
  program.version(packageVersion(), '-V, --version', 'print the weft version');
  program
    .command('version')
    .description('print the weft version and the Node.js runtime')
    .option('--output <format>', 'text or json', 'text')
    .action((options: { output: string }) => {
      const info = { weft: packageVersion(), node: process.versions.node };
      process.stdout.write(options.output === 'json' ? JSON.stringify(info) + '\n' : `weft ${info.weft} (node ${info.node})\n`);
    });
}
