// A small pool of signing worker threads (optional; `signWorkers` in IdentityAuthority). Requests go
// round-robin; each worker gets every issuer change before any request that uses it (messages are ordered).
// A worker that dies fails only the requests it held and leaves the pool; with none left, signing
// runs on the calling thread, so issuance never hangs on a dead thread.
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { IssuedLeaf, IssuerCa } from '../../identity/ca.ts';
import { IdentityError, type IdentityErrorCode } from '../../identity/errors.ts';
import { logger } from '../../core/logger.ts';
import { checkCsrAndIssue, type SignRequest } from './csr-check.ts';
import type { WorkerMessage, WorkerReply } from './sign-worker.ts';

const log = logger('control.identity.sign-pool');

interface Pending {
  worker: Worker;
  resolve(leaf: IssuedLeaf): void;
  reject(error: Error): void;
  spiffeId: string;
  /** The issuer's chain, appended here: the worker sends back only the leaf. */
  issuerChainPem: string;
}

export class SignPool {
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, Pending>();
  #seq = 0;
  #next = 0;
  #closing = false;
  readonly #sentIssuers = new Set<string>();

  /** `workerFile` replaces the signing worker (tests). */
  constructor(size: number, options: { workerFile?: string } = {}) {
    // From sources the worker registers tsx itself (the parent may have registered it programmatically).
    const fromSource = import.meta.url.endsWith('.ts');
    const file = options.workerFile ?? fileURLToPath(new URL(fromSource ? './sign-worker-entry.mjs' : './sign-worker.js', import.meta.url));
    for (let i = 0; i < size; i++) {
      const w = new Worker(file);
      w.on('message', (reply: WorkerReply) => this.#settle(reply));
      w.on('error', (error) => this.#lose(w, error.message));
      w.on('exit', (code) => this.#lose(w, `exited with code ${code}`));
      w.unref();
      this.#workers.push(w);
    }
  }

  /** Worker threads alive. */
  get size(): number {
    return this.#workers.length;
  }

  /** Sends the issuer to every worker (once per issuer). */
  setIssuer(issuer: IssuerCa): void {
    if (this.#sentIssuers.has(issuer.id)) return;
    this.#sentIssuers.add(issuer.id);
    const msg: WorkerMessage = { type: 'issuer', id: issuer.id, chainPem: issuer.chainPem, keyPem: issuer.keyPem, rootId: issuer.rootId };
    for (const w of this.#workers) w.postMessage(msg);
  }

  sign(issuer: IssuerCa, req: SignRequest): Promise<IssuedLeaf> {
    if (this.#workers.length === 0) return checkCsrAndIssue(issuer, req);
    this.setIssuer(issuer);
    const seq = ++this.#seq;
    const worker = this.#workers[this.#next++ % this.#workers.length]!;
    // Idle workers must not keep the process alive; busy ones must (their reply is awaited).
    if (this.#pending.size === 0) for (const w of this.#workers) w.ref();
    return new Promise<IssuedLeaf>((resolve, reject) => {
      this.#pending.set(seq, { worker, resolve, reject, spiffeId: req.expectedId, issuerChainPem: issuer.chainPem });
      worker.postMessage({ type: 'sign', seq, issuerId: issuer.id, ...req } satisfies WorkerMessage);
    });
  }

  #settle(reply: WorkerReply): void {
    const p = this.#pending.get(reply.seq);
    if (!p) return;
    this.#pending.delete(reply.seq);
    if (this.#pending.size === 0) for (const w of this.#workers) w.unref();
    if (reply.ok) {
      p.resolve({ certPem: reply.certPem, chainPem: reply.certPem + p.issuerChainPem, serial: reply.serial, spiffeId: p.spiffeId, notBefore: new Date(reply.notBefore), notAfter: new Date(reply.notAfter) });
    } else {
      p.reject(new IdentityError(reply.code as IdentityErrorCode, reply.message));
    }
  }

  /** A worker died: fail what it held, and sign without it from now on. */
  #lose(worker: Worker, reason: string): void {
    const i = this.#workers.indexOf(worker);
    if (i === -1 || this.#closing) return;
    this.#workers.splice(i, 1);
    log.error({ reason, workersLeft: this.#workers.length }, 'signing worker thread died; its requests fail and signing continues without it');
    for (const [seq, p] of this.#pending) {
      if (p.worker !== worker) continue;
      this.#pending.delete(seq);
      p.reject(new IdentityError('IDENTITY_CA_UNAVAILABLE', `signing worker failed: ${reason}`));
    }
    if (this.#pending.size === 0) for (const w of this.#workers) w.unref();
    void worker.terminate();
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
