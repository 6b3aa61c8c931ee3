// The part every store adapter shares: take a complete document set, validate it as a whole,
// and either publish a new snapshot (with per-resource versions) or record a rejection while
// the last good snapshot stays in force.
import { createHash } from 'node:crypto';
import { parseAllDocuments } from 'yaml';
import { Watch } from '../../core/watch.ts';
import { logger } from '../../core/logger.ts';
import type { ConfigProblem, ConfigValidator, ResourceRef, SourceDocument, StoreRejection, StoreSnapshot } from './store.ts';
import { formatProblem } from './store.ts';

const log = logger('control.store');

function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** Kind/namespace/name and a content hash per YAML document; unparseable documents are skipped (the validator reports them). */
export function indexResources(documents: readonly SourceDocument[]): ResourceRef[] {
  const refs: ResourceRef[] = [];
  for (const doc of documents) {
    let parsed;
    try {
      parsed = parseAllDocuments(doc.text);
    } catch {
      continue;
    }
    const list = Array.isArray(parsed) ? parsed : [parsed];
    for (const d of list) {
      if (d.errors.length > 0) continue;
      const value = d.toJS() as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
      if (value === null || typeof value !== 'object') continue;
      refs.push({
        kind: typeof value.kind === 'string' ? value.kind : '',
        namespace: typeof value.metadata?.namespace === 'string' ? value.metadata.namespace : 'default',
        name: typeof value.metadata?.name === 'string' ? value.metadata.name : '',
        source: doc.source,
        resourceVersion: sha(JSON.stringify(value)),
      });
    }
  }
  return refs;
}

/** Hash of a whole document set, order-independent: the files store's resume token. */
export function contentToken(documents: readonly SourceDocument[]): string {
  const h = createHash('sha256');
  for (const d of [...documents].sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0))) {
    h.update(d.source).update('\0').update(d.text).update('\0');
  }
  return h.digest('hex').slice(0, 24);
}

export class ValidatingCore<C> {
  readonly snapshot = new Watch<StoreSnapshot<C> | undefined>(undefined);
  readonly rejection = new Watch<StoreRejection | undefined>(undefined);
  #revision = 0;
  #lastToken = '';
  readonly #validate: ConfigValidator<C>;
  readonly #clock: () => number;

  constructor(validate: ConfigValidator<C>, clock: () => number = Date.now) {
    this.#validate = validate;
    this.#clock = clock;
  }

  /**
   * Validates `documents` as a whole. Accepted: publishes a snapshot and returns it. Rejected: records the
   * problems, keeps the last snapshot, returns the problems. An identical document set is a no-op.
   */
  apply(documents: readonly SourceDocument[], token = contentToken(documents)): { accepted: true; snapshot: StoreSnapshot<C> } | { accepted: false; problems: readonly ConfigProblem[] } {
    const current = this.snapshot.current;
    if (current !== undefined && token === this.#lastToken) return { accepted: true, snapshot: current };
    const result = this.#validate(documents);
    if (!result.ok) {
      const rejection: StoreRejection = { at: this.#clock(), problems: result.error, keptRevision: this.#revision };
      this.rejection.set(rejection);
      log.error({ problems: result.error.map(formatProblem), keptRevision: this.#revision }, 'config change rejected; last good config kept');
      return { accepted: false, problems: result.error };
    }
    return { accepted: true, snapshot: this.publish(result.value, indexResources(documents), token) };
  }

  /** Publishes an already-validated config (the memory store's direct path). */
  publish(config: C, resources: readonly ResourceRef[], token: string): StoreSnapshot<C> {
    this.#revision++;
    this.#lastToken = token;
    const snap: StoreSnapshot<C> = Object.freeze({ config, revision: this.#revision, resumeToken: token, resources: Object.freeze([...resources]), acceptedAt: this.#clock() });
    if (this.rejection.current !== undefined) this.rejection.set(undefined);
    this.snapshot.set(snap);
    log.info({ revision: snap.revision, resources: resources.length }, 'config accepted');
    return snap;
  }
}
