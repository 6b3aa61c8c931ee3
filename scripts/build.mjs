#!/usr/bin/env node
// The build: each step is a script run in order; a failing step stops the build.
//   1. generate TypeScript types for the Envoy xDS protos (src/xds/generated, not committed)
//   2. write the JSON Schema of every resource kind to schemas/
//   3. compile TypeScript to dist/
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const steps = [
  ['generate xDS types', ['--import', 'tsx', 'scripts/gen-xds-types.ts'], 'scripts/gen-xds-types.ts'],
  ['write JSON schemas', ['--import', 'tsx', 'scripts/write-schemas.ts'], 'scripts/write-schemas.ts'],
  ['compile TypeScript', ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], null],
];
for (const [name, args, needs] of steps) {
  if (needs && !existsSync(root + needs)) continue;
  console.log(`build: ${name}`);
  const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
  if (r.status !== 0) {
    console.error(`build: ${name} failed`);
    process.exit(r.status ?? 1);
  }
}
