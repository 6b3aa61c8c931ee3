// The files store: a directory of YAML documents (*.yaml, *.yml, subfolders included), watched.
// Every change re-reads the whole directory after a short debounce and validates it as a whole:
// accepted changes publish one new snapshot atomically; rejected ones are logged with every problem,
// exposed through `rejection`, and change nothing.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { logger } from '../../core/logger.ts';
import type { ConfigValidator, SourceDocument, Store, StoreSnapshot, StoreStartOptions } from './store.ts';
import { StoreError, formatProblem } from './store.ts';
import { ValidatingCore } from './store-core.ts';

const log = logger('control.store.files');

export interface FilesStoreOptions<C> {
  readonly dir: string;
  readonly validate: ConfigValidator<C>;
  /** Quiet time after the last file event before re-reading (default 50 ms). */
  readonly debounceMs?: number;
  /** Also re-read every this many ms, for filesystems where fs.watch misses events (default off). */
  readonly pollMs?: number;
  readonly clock?: () => number;
}

/** Reads every YAML file under `dir`, sorted by path; `source` is the path relative to `dir`. */
export async function readYamlDir(dir: string): Promise<SourceDocument[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { recursive: true })) as string[];
  } catch (error) {
    throw new StoreError('STORE_READ_FAILED', `cannot read config directory ${dir}: ${(error as Error).message}`, { cause: error });
  }
  const files = names.filter((n) => /\.ya?ml$/i.test(n) && !n.split(/[\\/]/).some((part) => part.startsWith('.'))).sort();
  const docs: SourceDocument[] = [];
  for (const name of files) {
    const full = join(dir, name);
    try {
      docs.push({ source: relative(dir, full), text: await readFile(full, 'utf8') });
    } catch (error) {
      // Deleted between readdir and read: the next event re-reads.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' && (error as NodeJS.ErrnoException).code !== 'EISDIR') throw error;
    }
  }
  return docs;
}

export class FilesStore<C> implements Store<C> {
  readonly kind = 'files';
  readonly #core: ValidatingCore<C>;
  readonly #options: FilesStoreOptions<C>;
  /** One non-recursive watch per directory: a directory watch sees edits, creations and renames of its
   * files (Node 20's recursive mode on Linux watches file inodes and goes deaf after a rename). */
  readonly #watchers = new Map<string, FSWatcher>();
  #poll: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #reading: Promise<void> | undefined;
  #again = false;
  #closed = false;

  constructor(options: FilesStoreOptions<C>) {
    this.#options = options;
    this.#core = new ValidatingCore(options.validate, options.clock);
  }

  get snapshot() {
    return this.#core.snapshot;
  }
  get rejection() {
    return this.#core.rejection;
  }
  get dir(): string {
    return this.#options.dir;
  }

  async start(_options: StoreStartOptions = {}): Promise<StoreSnapshot<C>> {
    const docs = await readYamlDir(this.#options.dir);
    const r = this.#core.apply(docs);
    if (!r.accepted) {
      throw new StoreError('STORE_INITIAL_LOAD_INVALID', `config in ${this.#options.dir} is invalid:\n${r.problems.map(formatProblem).join('\n')}`, {
        details: { problems: r.problems },
      });
    }
    await this.#watchDirs();
    if (this.#options.pollMs) {
      this.#poll = setInterval(() => this.#schedule(), this.#options.pollMs);
      this.#poll.unref();
    }
    return r.snapshot;
  }

  /** Re-reads now (tests, SIGHUP). Resolves when the read and validation are done. */
  async reload(): Promise<void> {
    if (this.#reading) {
      this.#again = true;
      await this.#reading;
      return;
    }
    this.#reading = this.#readOnce().finally(() => (this.#reading = undefined));
    await this.#reading;
    if (this.#again) {
      this.#again = false;
      await this.reload();
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      this.reload().catch((error) => log.error({ err: error }, 'config reload failed'));
    }, this.#options.debounceMs ?? 50);
  }

  async #watchDirs(): Promise<void> {
    const root = this.#options.dir;
    const dirs = [root];
    try {
      for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
        if (entry.isDirectory() && !entry.name.startsWith('.')) dirs.push(join((entry as unknown as { parentPath?: string; path: string }).parentPath ?? entry.path, entry.name));
      }
    } catch {
      // The next reload reports an unreadable directory.
    }
    for (const d of dirs) {
      if (this.#watchers.has(d) || this.#closed) continue;
      try {
        const w = watch(d, () => this.#schedule());
        w.on('error', (error) => log.warn({ err: error, dir: d }, 'config directory watch error'));
        this.#watchers.set(d, w);
      } catch (error) {
        log.warn({ err: error, dir: d }, 'cannot watch config directory');
      }
    }
  }

  async #readOnce(): Promise<void> {
    if (this.#closed) return;
    await this.#watchDirs();
    const docs = await readYamlDir(this.#options.dir);
    if (this.#closed) return;
    this.#core.apply(docs);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    if (this.#poll) clearInterval(this.#poll);
    if (this.#debounce) clearTimeout(this.#debounce);
    await this.#reading;
  }
}
