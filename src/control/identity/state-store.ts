// Persistence of the CA state (roots, issuing intermediate, token key, rotation step): a small interface
// with a file implementation (mode 0600, atomic replace) and an in-memory one for tests.
import { mkdir, open, readFile, rename, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { IdentityError } from '../../identity/errors.ts';

export interface StoredRoot {
  readonly id: string;
  readonly certPem: string;
  /** Absent for roots of a plug-in CA or a root that was only trusted (no signing with it). */
  readonly keyPem?: string;
  readonly createdAt: number;
}

export interface StoredIssuer {
  readonly rootId: string;
  /** Intermediate first, then parents up to (excluding) the root. */
  readonly chainPem: string;
  readonly keyPem: string;
  readonly createdAt: number;
}

/** The five steps of a root rotation; the persisted `step` says which one is in progress. */
export type RotationStep = 'add-root' | 'await-bundle-acks' | 'switch-issuer' | 'await-reissue' | 'remove-old-root';

export interface RotationState {
  readonly step: RotationStep;
  readonly oldRootId: string;
  readonly newRootId?: string;
  readonly reason: 'auto' | 'manual';
  readonly startedAt: number;
  readonly stepStartedAt: number;
  /** Bundle version that holds the new root; step 2 waits for every connected workload to ack it. */
  readonly bundleVersionWithNewRoot?: number;
}

export interface CaStateV1 {
  readonly schema: 1;
  readonly trustDomain: string;
  /** Counts roots ever made; used in CA subjects. */
  readonly generation: number;
  readonly roots: readonly StoredRoot[];
  readonly bundleVersion: number;
  readonly issuer: StoredIssuer | undefined;
  readonly tokenKey: { readonly kid: string; readonly privateKeyPem: string; readonly publicKeyPem: string };
  readonly rotation: RotationState | undefined;
  /** Last events (rotation steps, recoveries), newest last, capped. */
  readonly history: ReadonlyArray<{ readonly at: number; readonly event: string }>;
}

export interface CaStateStore {
  load(): Promise<CaStateV1 | undefined>;
  save(state: CaStateV1): Promise<void>;
  /** Where the state lives, for messages (never includes key material). */
  describe(): string;
}

export class MemoryCaStateStore implements CaStateStore {
  #json: string | undefined;
  saves = 0;
  async load(): Promise<CaStateV1 | undefined> {
    return this.#json === undefined ? undefined : (JSON.parse(this.#json) as CaStateV1);
  }
  async save(state: CaStateV1): Promise<void> {
    this.#json = JSON.stringify(state);
    this.saves++;
  }
  describe(): string {
    return 'memory';
  }
}

export const CA_STATE_FILE = 'ca-state.json';

/** Stores the state as `<dir>/ca-state.json`, mode 0600, replaced atomically (write temp, fsync, rename). */
export class FileCaStateStore implements CaStateStore {
  readonly path: string;
  readonly #dir: string;
  #writing: Promise<void> = Promise.resolve();

  constructor(stateDir: string) {
    this.#dir = stateDir;
    this.path = join(stateDir, CA_STATE_FILE);
  }

  async load(): Promise<CaStateV1 | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new IdentityError('IDENTITY_CA_STATE_INVALID', `cannot read CA state ${this.path}`, { cause: error });
    }
    let state: CaStateV1;
    try {
      state = JSON.parse(text) as CaStateV1;
    } catch (cause) {
      throw new IdentityError('IDENTITY_CA_STATE_INVALID', `CA state ${this.path} is not valid JSON; restore it from a backup or move it away to start a new CA`, { cause });
    }
    if (state.schema !== 1) throw new IdentityError('IDENTITY_CA_STATE_INVALID', `CA state ${this.path} has unknown schema ${String(state.schema)}`);
    return state;
  }

  save(state: CaStateV1): Promise<void> {
    // Serialise writes so a slow fsync never lets an older state overwrite a newer one.
    const next = this.#writing.then(() => this.#write(state));
    this.#writing = next.catch(() => {});
    return next;
  }

  async #write(state: CaStateV1): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(state, null, 1));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(tmp, 0o600);
    await rename(tmp, this.path);
  }

  describe(): string {
    return this.path;
  }
}
