// Generates TypeScript types for the Envoy v3 protos weft loads (src/xds/proto-files.ts) into
// src/xds/generated/ with proto-loader-gen-types. Idempotent and fast: a stamp file records the
// inputs (file list, flags, package versions, this script); when they match, nothing runs.
// Output is written to a temporary folder and renamed into place, so a concurrent run (pretest and
// prelint together) never sees half a tree. Usage: node --import tsx scripts/gen-xds-types.ts [--force]
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GEN_TYPES_FLAGS, PROTO_FILES, PROTO_INCLUDE_DIRS, XDS_PACKAGE_DIR } from '../src/xds/proto-files.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'src/xds/generated');
const stampFile = join(outDir, '.stamp.json');
const require = createRequire(import.meta.url);
const protoLoaderDir = dirname(require.resolve('@grpc/proto-loader/package.json'));
const genBin = join(protoLoaderDir, 'build/bin/proto-loader-gen-types.js');

function versionOf(dir: string): string {
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

const flags = [...GEN_TYPES_FLAGS, '--importFileExtension=.ts', '--includeComments', '--grpcLib=@grpc/grpc-js'];
const stamp = createHash('sha256')
  .update(
    JSON.stringify({
      files: PROTO_FILES,
      flags,
      xds: versionOf(XDS_PACKAGE_DIR),
      protoLoader: versionOf(protoLoaderDir),
      script: readFileSync(fileURLToPath(import.meta.url), 'utf8'),
    }),
  )
  .digest('hex');

function upToDate(): boolean {
  try {
    return (JSON.parse(readFileSync(stampFile, 'utf8')) as { stamp?: string }).stamp === stamp;
  } catch {
    return false;
  }
}

if (!process.argv.includes('--force') && upToDate()) {
  process.exit(0);
}

const started = performance.now();
const tmp = mkdtempSync(join(root, 'src/xds/.generated-'));
const includeArgs = PROTO_INCLUDE_DIRS.flatMap((d) => ['-I', relative(root, d)]);
const result = spawnSync(process.execPath, [genBin, ...flags, ...includeArgs, '-O', tmp, ...PROTO_FILES], {
  cwd: root,
  stdio: ['ignore', 'inherit', 'inherit'],
});
if (result.status !== 0) {
  rmSync(tmp, { recursive: true, force: true });
  console.error(`gen-xds-types: proto-loader-gen-types failed (exit ${result.status})`);
  process.exit(result.status ?? 1);
}
writeFileSync(join(tmp, '.stamp.json'), JSON.stringify({ stamp, generatedAt: new Date().toISOString() }) + '\n');

// Swap the new tree in. If another run finished first with the same stamp, keep theirs.
if (upToDate()) {
  rmSync(tmp, { recursive: true, force: true });
} else {
  const old = existsSync(outDir) ? `${tmp}-old` : null;
  if (old) renameSync(outDir, old);
  renameSync(tmp, outDir);
  if (old) rmSync(old, { recursive: true, force: true });
}
console.log(`gen-xds-types: generated ${relative(root, outDir)} in ${Math.round(performance.now() - started)} ms`);
