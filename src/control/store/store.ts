// The Store interface: a source of mesh configuration that emits whole, validated snapshots.
// Adapters (memory, files; later etcd and Kubernetes) differ only in where documents come from;
// every adapter validates a change as a whole and either publishes a new snapshot or records a
// rejection and keeps the last good one. Revisions and resume tokens let watch-based sources
// (etcd revisions, Kubernetes resourceVersions) resume after a restart without a full relist.
import type { Watch } from '../../core/watch.ts';
import type { Result } from '../../core/result.ts';
import { WeftError } from '../../core/errors.ts';

/** One source document as read: its origin (a file path, an etcd key) and its raw text. */
export interface SourceDocument {
  readonly source: string;
  readonly text: string;
}

/** One problem found while validating a change; positions are 1-based when known. */
export interface ConfigProblem {
  readonly source?: string;
  readonly line?: number;
  readonly column?: number;
  /** Field path inside the resource, e.g. `spec.rules[0].backendRefs[1].weight`. */
  readonly path?: string;
  readonly message: string;
}

/** Turns a complete set of documents into an immutable config, or every problem found. */
export type ConfigValidator<C> = (documents: readonly SourceDocument[]) => Result<C, readonly ConfigProblem[]>;

/** Identity and version of one resource in a snapshot (a content hash for files, a revision for etcd). */
export interface ResourceRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly source: string;
  readonly resourceVersion: string;
}

export interface StoreSnapshot<C> {
  /** The validated, immutable configuration. */
  readonly config: C;
  /** Monotonic within one store instance; increases by one per accepted change. */
  readonly revision: number;
  /** Opaque token a new store instance can resume from (etcd revision, k8s resourceVersion, files content hash). */
  readonly resumeToken: string;
  readonly resources: readonly ResourceRef[];
  readonly acceptedAt: number;
}

/** A change that failed validation: nothing of it was applied. */
export interface StoreRejection {
  readonly at: number;
  readonly problems: readonly ConfigProblem[];
  /** Revision that stayed in force. */
  readonly keptRevision: number;
}

export interface StoreStartOptions {
  /** A token from an earlier snapshot; adapters that can resume a watch from it do, others ignore it. */
  readonly resumeFrom?: string;
}

export interface Store<C> {
  /** `memory`, `files`, later `etcd`, `kubernetes`. */
  readonly kind: string;
  /** The last good snapshot (undefined until the first successful load). */
  readonly snapshot: Watch<StoreSnapshot<C> | undefined>;
  /** The most recent rejection, cleared (undefined) when a later change is accepted. */
  readonly rejection: Watch<StoreRejection | undefined>;
  /** Loads the initial state and starts watching. Rejects with StoreError if the first load is invalid. */
  start(options?: StoreStartOptions): Promise<StoreSnapshot<C>>;
  close(): Promise<void>;
}

export class StoreError extends WeftError {
  constructor(code: 'STORE_INITIAL_LOAD_INVALID' | 'STORE_READ_FAILED' | 'STORE_CLOSED', message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, options);
  }
}

/** One line per problem, `file:line:col path: message`, for logs and CLI output. */
export function formatProblem(p: ConfigProblem): string {
  const where = [p.source, p.line, p.column].filter((x) => x !== undefined).join(':');
  return `${where ? where + ': ' : ''}${p.path ? p.path + ': ' : ''}${p.message}`;
}
