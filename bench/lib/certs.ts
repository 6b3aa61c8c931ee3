// A throwaway PKI for benchmarks, from the project's own test PKI (test/support/pki.ts: ECDSA
// P-256 root + intermediate, leaves with SPIFFE URI SANs), written as PEM files in a temp dir so
// that weft, HAProxy and nginx all do the same crypto. HAProxy wants chain + key in one file.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTestPki } from '../../test/support/pki.ts';

export interface BenchLeaf {
  spiffeId: string;
  certPath: string;
  keyPath: string;
  /** Certificate chain followed by the key, one file (HAProxy's `crt`). */
  comboPath: string;
  certChainPem: string;
  keyPem: string;
}

export interface BenchPki {
  dir: string;
  trustDomain: string;
  /** The trust bundle (root) as a file. */
  caPath: string;
  bundlePem: string;
  /** Issues a leaf for `spiffe://<trustDomain>/ns/default/sa/<name>`. */
  issue(name: string): Promise<BenchLeaf>;
}

export async function makeBenchPki(trustDomain = 'bench.local'): Promise<BenchPki> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-pki-'));
  const pki = await makeTestPki({ trustDomain });
  const caPath = join(dir, 'ca.pem');
  writeFileSync(caPath, pki.bundlePem);
  return {
    dir,
    trustDomain,
    caPath,
    bundlePem: pki.bundlePem,
    async issue(name) {
      const leaf = await pki.issue(`default/${name}`, { ttlMs: 24 * 3600_000 });
      const certPath = join(dir, `${name}.pem`);
      const keyPath = join(dir, `${name}.key`);
      const comboPath = join(dir, `${name}.combo.pem`);
      const chain = leaf.certChainPem.endsWith('\n') ? leaf.certChainPem : `${leaf.certChainPem}\n`;
      writeFileSync(certPath, chain);
      writeFileSync(keyPath, leaf.keyPem, { mode: 0o600 });
      writeFileSync(comboPath, chain + leaf.keyPem, { mode: 0o600 });
      return { spiffeId: leaf.spiffeId, certPath, keyPath, comboPath, certChainPem: chain, keyPem: leaf.keyPem };
    },
  };
}
