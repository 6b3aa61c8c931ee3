// A small pool of signing worker threads (optional; `signWorkers` in IdentityAuthority). Requests go
// round-robin; each worker gets every issuer change before any request that uses it (messages are ordered).
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { IssuedLeaf, IssuerCa } from '../../identity/ca.ts';
import { IdentityError, type IdentityErrorCode } from '../../identity/errors.ts';
import type { SignRequest } from './csr-check.ts';
import type { WorkerMessage, WorkerReply } from './sign-worker.ts';

interface Pending {
  resolve(leaf: IssuedLeaf): void;
  reject(error: Error): void;
  spiffeId: string;
  /** The issuer's chain, appended here: the worker sends back only the leaf. */
  issuerChainPem: string;
}

export class SignPool {
  readonly size: number;
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, Pending>();
  #seq = 0;
  #next = 0;
  readonly #sentIssuers = new Set<string>();

  constructor(size: number) {
    this.size = size;
    // From sources the worker registers tsx itself (the parent may have registered it programmatically).
    const fromSource = import.meta.url.endsWith('.ts');
    const file = fileURLToPath(new URL(fromSource ? './sign-worker-entry.mjs' : './sign-worker.js', import.meta.url));
    for (let i = 0; i < size; i++) {
      const w = new Worker(file);
      w.on('message', (reply: WorkerReply) => this.#settle(reply));
      w.on('error', (error) => this.#failAll(error));
      w.unref();
      this.#workers.push(w);
    }
  }

  /** Sends the issuer to every worker (once per issuer). */
  setIssuer(issuer: IssuerCa): void {
    if (this.#sentIssuers.has(issuer.id)) return;
    this.#sentIssuers.add(issuer.id);
    const msg: WorkerMessage = { type: 'issuer', id: issuer.id, chainPem: issuer.chainPem, keyPem: issuer.keyPem, rootId: issuer.rootId };
    for (const w of this.#workers) w.postMessage(msg);
  }

  sign(issuer: IssuerCa, req: SignRequest): Promise<IssuedLeaf> {
    this.setIssuer(issuer);
    const seq = ++this.#seq;
    const worker = this.#workers[this.#next++ % this.#workers.length]!;
    // Idle workers must not keep the process alive; busy ones must (their reply is awaited).
    if (this.#pending.size === 0) for (const w of this.#workers) w.ref();
    return new Promise<IssuedLeaf>((resolve, reject) => {
      this.#pending.set(seq, { resolve, reject, spiffeId: req.expectedId, issuerChainPem: issuer.chainPem });
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

  #failAll(error: Error): void {
    for (const [seq, p] of this.#pending) {
      this.#pending.delete(seq);
      p.reject(new IdentityError('IDENTITY_CA_UNAVAILABLE', `signing worker failed: ${error.message}`));
    }
    for (const w of this.#workers) w.unref();
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
