// Plug-in CA: an issuing intermediate and its key supplied as files (cert-manager, Vault, a corporate
// PKI), plus the trust bundle. Loaded and checked here; the authority reloads when the files change.
import { readFile, stat } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { loadIssuer, splitPem, type IssuerCa } from '../../identity/ca.ts';
import { parseBundle, type BundleRoot } from '../../identity/bundle.ts';
import { IdentityError } from '../../identity/errors.ts';

export interface PluginCaFiles {
  /** PEM: the issuing intermediate first, then any further intermediates (a root at the end is allowed). */
  readonly certFile: string;
  /** PEM private key of the intermediate (PKCS#8, SEC1 or PKCS#1). Keep it mode 0600. */
  readonly keyFile: string;
  /** PEM roots to trust. Default: the self-signed certificates found at the end of certFile. */
  readonly bundleFile?: string;
}

export interface LoadedPluginCa {
  readonly issuer: IssuerCa;
  readonly roots: BundleRoot[];
}

async function read(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw new IdentityError('IDENTITY_PLUGIN_CA_INVALID', `cannot read plug-in CA ${what} ${path}`, { cause });
  }
}

/** Reads and checks the files: the key matches, the intermediate is a CA, and its chain ends at a bundle root. */
export async function loadPluginCa(files: PluginCaFiles): Promise<LoadedPluginCa> {
  const certPem = await read(files.certFile, 'certificate');
  const keyPem = await read(files.keyFile, 'key');
  const chain = splitPem(certPem).map((p) => new X509Certificate(p));
  if (chain.length === 0) throw new IdentityError('IDENTITY_PLUGIN_CA_INVALID', `${files.certFile} holds no certificate`);
  const selfSigned = chain.filter((c) => c.checkIssued(c));
  const bundlePem = files.bundleFile ? await read(files.bundleFile, 'bundle') : selfSigned.map((c) => c.toString()).join('\n');
  if (!bundlePem.trim()) {
    throw new IdentityError('IDENTITY_PLUGIN_CA_INVALID', `no trust bundle: pass the root(s) with --ca-bundle (or append the root to ${files.certFile})`);
  }
  const roots = parseBundle(bundlePem);
  const top = chain.filter((c) => !c.checkIssued(c)).at(-1) ?? chain[0]!;
  const root = roots.find((r) => {
    const rc = new X509Certificate(r.pem);
    return top.checkIssued(rc) && top.verify(rc.publicKey);
  });
  if (!root) throw new IdentityError('IDENTITY_PLUGIN_CA_INVALID', `the plug-in intermediate ${top.subject.replaceAll('\n', ', ')} does not chain to any root in the bundle`);
  const now = Date.now();
  if (new Date(chain[0]!.validTo).getTime() <= now) throw new IdentityError('IDENTITY_PLUGIN_CA_INVALID', `the plug-in intermediate in ${files.certFile} has expired`);
  let issuer: IssuerCa;
  try {
    issuer = await loadIssuer(certPem, keyPem, root.id);
  } catch (cause) {
    throw new IdentityError('IDENTITY_PLUGIN_CA_INVALID', `plug-in CA rejected: ${(cause as Error).message}`, { cause });
  }
  return { issuer, roots };
}

/** A cheap change detector for the files (size, mtime, inode). */
export async function pluginCaFingerprint(files: PluginCaFiles): Promise<string> {
  const parts: string[] = [];
  for (const path of [files.certFile, files.keyFile, files.bundleFile]) {
    if (!path) continue;
    try {
      const s = await stat(path);
      parts.push(`${s.ino}:${s.size}:${s.mtimeMs}`);
    } catch {
      parts.push('missing');
    }
  }
  return parts.join('|');
}
