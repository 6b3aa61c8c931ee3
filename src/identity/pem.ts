// PEM armour: the DER inside a labelled block, and DER wrapped into one.

/**
 * The DER bytes of the first PEM block labelled `label` (`CERTIFICATE REQUEST` also accepts the legacy
 * `NEW CERTIFICATE REQUEST`), or undefined when there is none. A fresh, unshared Uint8Array-compatible
 * Buffer (never a slice of Node's pool), so callers may hand its `.buffer` on.
 */
export function pemBody(text: string, label: string): Buffer | undefined {
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]+?)-----END \1-----/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const found = m[1]!;
    if (found === label || (label === 'CERTIFICATE REQUEST' && found === 'NEW CERTIFICATE REQUEST')) {
      const pooled = Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64');
      const own = Buffer.alloc(pooled.length);
      pooled.copy(own);
      return own;
    }
  }
  return undefined;
}

/** DER as a PEM block with 64-character lines and a trailing newline. */
export function derToPem(der: Uint8Array | ArrayBuffer, label: string): string {
  const bytes = der instanceof ArrayBuffer ? Buffer.from(der) : Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const b64 = bytes.toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + '\n';
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}
