// DER that the ASN.1 library already produced (or that a verified CSR carried), reused verbatim inside
// @peculiar/asn1-schema objects, so the issuance hot path does not re-encode what never changes.
import * as asn1js from 'asn1js';

/**
 * An asn1js block whose encoding is a fixed, complete DER element (tag, length and contents), written
 * as-is wherever asn1js encodes its children. It only ever holds bytes that asn1js/@peculiar encoded
 * earlier (an issuer name, a static extension, a signature algorithm, a TBSCertificate) or a public key
 * that node:crypto has parsed; it never builds tags or lengths itself.
 */
class PreEncodedBlock extends asn1js.BaseBlock {
  readonly #der: ArrayBuffer;

  constructor(der: ArrayBuffer) {
    super({});
    this.#der = der;
  }

  override toBER(_sizeOnly?: boolean, writer?: { write(buffer: ArrayBuffer): void }): ArrayBuffer {
    writer?.write(this.#der);
    return this.#der;
  }
}

/**
 * A stand-in for any @peculiar/asn1-schema object (Name, AlgorithmIdentifier, Extension,
 * SubjectPublicKeyInfo, TBSCertificate…) that serializes to `der`: asn1-schema asks a convertible
 * value for its asn1js block (`toASN`), and this one answers with the bytes unchanged.
 * Only for encoding; parsing into it is refused.
 */
export class PreEncoded {
  readonly der: ArrayBuffer;
  readonly #block: PreEncodedBlock;

  constructor(der: ArrayBuffer | Uint8Array) {
    this.der = der instanceof ArrayBuffer ? der : copyToArrayBuffer(der);
    this.#block = new PreEncodedBlock(this.der);
  }

  toASN(): asn1js.AsnType {
    return this.#block as unknown as asn1js.AsnType;
  }

  fromASN(): this {
    throw new TypeError('PreEncoded is for encoding only');
  }

  /** Typed as the schema class it replaces (asn1-schema serializes any convertible the same way). */
  as<T>(): T {
    return this as unknown as T;
  }
}

function copyToArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
