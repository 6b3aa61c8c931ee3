// A signing worker thread: holds copies of the issuing CA (same process, never written anywhere) and
// runs the CSR check and leaf signing for the authority, so issuance can use more than one core.
import { parentPort } from 'node:worker_threads';
import { loadIssuer, type IssuerCa } from '../../identity/ca.ts';
import { checkCsrAndIssue, type SignRequest } from './csr-check.ts';

export type WorkerMessage =
  | { type: 'issuer'; id: string; chainPem: string; keyPem: string; rootId: string | undefined }
  | ({ type: 'sign'; seq: number; issuerId: string } & SignRequest);

export type WorkerReply =
  | { seq: number; ok: true; certPem: string; serial: string; notBefore: number; notAfter: number }
  | { seq: number; ok: false; code: string; message: string };

const issuers = new Map<string, Promise<IssuerCa>>();

parentPort?.on('message', (msg: WorkerMessage) => {
  if (msg.type === 'issuer') {
    issuers.set(msg.id, loadIssuer(msg.chainPem, msg.keyPem, msg.rootId));
    // Keep the two newest (the previous one may still have requests in flight).
    while (issuers.size > 2) issuers.delete(issuers.keys().next().value!);
    return;
  }
  const issuer = issuers.get(msg.issuerId);
  if (!issuer) {
    parentPort!.postMessage({ seq: msg.seq, ok: false, code: 'IDENTITY_CA_UNAVAILABLE', message: 'signing worker has no such issuer' } satisfies WorkerReply);
    return;
  }
  issuer
    .then((ca) => checkCsrAndIssue(ca, msg))
    .then(
      (leaf) => parentPort!.postMessage({ seq: msg.seq, ok: true, certPem: leaf.certPem, serial: leaf.serial, notBefore: leaf.notBefore.getTime(), notAfter: leaf.notAfter.getTime() } satisfies WorkerReply),
      (error: { code?: string; message?: string }) =>
        parentPort!.postMessage({ seq: msg.seq, ok: false, code: typeof error.code === 'string' ? error.code : 'IDENTITY_CA_UNAVAILABLE', message: error.message ?? 'signing failed' } satisfies WorkerReply),
    );
});
