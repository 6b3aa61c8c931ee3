#!/usr/bin/env node
// The `weft` command's entry point. Runs the compiled CLI from dist/ when it is at least as new as
// every source file (so a stale build never hides an edit), otherwise the TypeScript sources through
// tsx (so `npm start` works right after `npm install`). WEFT_FROM_SOURCE=1 forces the sources.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiled = join(root, 'dist', 'src', 'cli', 'main.js');
const sources = join(root, 'src');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'generated') continue;
    const full = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

function buildIsCurrent() {
  if (process.env.WEFT_FROM_SOURCE === '1' || !existsSync(compiled)) return false;
  if (!existsSync(sources)) return true; // an installed package ships dist/ only
  return statSync(compiled).mtimeMs >= newestMtime(sources);
}

if (buildIsCurrent()) {
  const { main } = await import(pathToFileURL(compiled).href);
  await main(process.argv);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import(pathToFileURL(join(sources, 'cli', 'main.ts')).href);
  await main(process.argv);
}
