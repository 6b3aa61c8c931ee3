import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { ConfigValidator, ConfigProblem } from './store.ts';
import { FilesStore } from './store-files.ts';
import { MemoryStore } from './store-memory.ts';

/** A toy validator: every document needs kind and metadata.name; `weight` must be a number. */
const validate: ConfigValidator<{ names: string[] }> = (docs) => {
  const problems: ConfigProblem[] = [];
  const names: string[] = [];
  for (const d of docs) {
    for (const y of parseAllDocuments(d.text) as any[]) {
      const v = y.toJS();
      if (!v?.kind) problems.push({ source: d.source, line: 1, message: 'kind is required' });
      else if (v.spec && 'weight' in v.spec && typeof v.spec.weight !== 'number') problems.push({ source: d.source, path: 'spec.weight', message: 'expected a number' });
      else names.push(`${v.kind}/${v.metadata?.name}`);
    }
  }
  return problems.length ? { ok: false, error: problems } : { ok: true, value: { names: names.sort() } };
};

test('files store: initial load, accepted edit, rejected edit keeps last good config, recovery', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-store-'));
  try {
    await writeFile(join(dir, 'a.yaml'), 'kind: Service\nmetadata: {name: a}\n');
    const store = new FilesStore({ dir, validate, debounceMs: 10 });
    const first = await store.start();
    assert.deepEqual(first.config.names, ['Service/a']);
    assert.equal(first.resources.length, 1);
    assert.equal(first.resources[0]!.name, 'a');

    const second = store.snapshot.until((s) => s !== undefined && s.revision === 2);
    await writeFile(join(dir, 'b.yml'), 'kind: HTTPRoute\nmetadata: {name: b}\nspec: {weight: 3}\n');
    assert.deepEqual((await second)!.config.names, ['HTTPRoute/b', 'Service/a']);

    const rejected = store.rejection.until((r) => r !== undefined);
    // Write the bad version atomically (as editors do): temp file then rename.
    await writeFile(join(dir, '.b.tmp'), 'kind: HTTPRoute\nmetadata: {name: b}\nspec: {weight: heavy}\n');
    await rename(join(dir, '.b.tmp'), join(dir, 'b.yml'));
    const r = (await rejected)!;
    assert.equal(r.keptRevision, 2);
    assert.equal(r.problems[0]!.path, 'spec.weight');
    assert.equal(store.snapshot.current!.revision, 2, 'nothing of the bad edit applied');
    assert.deepEqual(store.snapshot.current!.config.names, ['HTTPRoute/b', 'Service/a']);

    const third = store.snapshot.until((s) => s !== undefined && s.revision === 3);
    await writeFile(join(dir, 'b.yml'), 'kind: HTTPRoute\nmetadata: {name: b2}\nspec: {weight: 5}\n');
    assert.deepEqual((await third)!.config.names, ['HTTPRoute/b2', 'Service/a']);
    assert.equal(store.rejection.current, undefined, 'an accepted change clears the rejection');
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('files store: an invalid directory at start is refused with every problem', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-store-'));
  try {
    await writeFile(join(dir, 'a.yaml'), 'metadata: {name: a}\n');
    const store = new FilesStore({ dir, validate });
    await assert.rejects(store.start(), (e: any) => e.code === 'STORE_INITIAL_LOAD_INVALID' && /a\.yaml:1: kind is required/.test(e.message));
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('files store: an unchanged directory does not bump the revision', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-store-'));
  try {
    await writeFile(join(dir, 'a.yaml'), 'kind: Service\nmetadata: {name: a}\n');
    const store = new FilesStore({ dir, validate });
    await store.start();
    await store.reload();
    assert.equal(store.snapshot.current!.revision, 1);
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('memory store: put publishes, apply validates as a whole', async () => {
  const store = new MemoryStore({ initial: { names: [] as string[] }, validate });
  assert.equal((await store.start()).revision, 1);
  assert.deepEqual(store.apply([{ source: 'x', text: 'kind: A\nmetadata: {name: x}\n' }]), []);
  assert.deepEqual(store.snapshot.current!.config.names, ['A/x']);
  const problems = store.apply([{ source: 'y', text: 'metadata: {name: y}\n' }]);
  assert.equal(problems.length, 1);
  assert.deepEqual(store.snapshot.current!.config.names, ['A/x']);
  store.put({ names: ['direct'] });
  assert.equal(store.snapshot.current!.revision, 3);
});

test('files store: files in subfolders count, deleting a file applies, dotfiles and other extensions are ignored', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-store-'));
  try {
    const { mkdir, unlink } = await import('node:fs/promises');
    await mkdir(join(dir, 'team-a'));
    await writeFile(join(dir, 'a.yaml'), 'kind: Service\nmetadata: {name: a}\n');
    await writeFile(join(dir, 'team-a', 'b.yaml'), 'kind: Service\nmetadata: {name: b}\n');
    await writeFile(join(dir, 'notes.txt'), 'not yaml: [');
    await writeFile(join(dir, '.hidden.yaml'), 'not: valid: yaml: [');
    const store = new FilesStore({ dir, validate, debounceMs: 10 });
    assert.deepEqual((await store.start()).config.names, ['Service/a', 'Service/b']);
    const changed = store.snapshot.until((s) => s !== undefined && s.revision === 2);
    await unlink(join(dir, 'team-a', 'b.yaml'));
    assert.deepEqual((await changed)!.config.names, ['Service/a']);
    const added = store.snapshot.until((s) => s !== undefined && s.revision === 3);
    await writeFile(join(dir, 'team-a', 'c.yml'), 'kind: Service\nmetadata: {name: c}\n');
    assert.deepEqual((await added)!.config.names, ['Service/a', 'Service/c'], 'a subfolder watched from the start sees new files');
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
