#!/usr/bin/env node
// The `weft` command's entry point: runs the compiled CLI from dist/ when built,
// otherwise the TypeScript sources through tsx (so `npm start` works right after `npm install`).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiled = join(root, 'dist', 'src', 'cli', 'main.js');
if (existsSync(compiled) && process.env.WEFT_FROM_SOURCE !== '1') {
  const { main } = await import(pathToFileURL(compiled).href);
  await main(process.argv);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href);
  await main(process.argv);
}
