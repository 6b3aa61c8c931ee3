// The HPACK Huffman code (RFC 7541 §5.2, Appendix B): codes derived at module load from the 257 code
// lengths (the code is canonical), a byte-driven state table for decoding, and an encoder.

/**
 * Code length in bits of every symbol 0..255 and EOS (256), RFC 7541 Appendix B. The code is canonical:
 * codes are assigned in order of (length, symbol), each the previous plus one, shifted left when the
 * length grows — so these lengths define every code.
 */
const CODE_LENGTHS: readonly number[] = [
  // 0..31 (control bytes)
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  // 32..63  ' ' ! " # $ % & ' ( ) * + , - . / 0 1 2 3 4 5 6 7 8 9 : ; < = > ?
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  // 64..95  @ A..Z [ \ ] ^ _
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  // 96..127 ` a..z { | } ~ DEL
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  // 128..255
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  // 256 EOS
  30,
];

const EOS = 256;

/** Buffer's fast one-byte-per-character methods (present in Node, missing from @types/node). */
interface Latin1Buffer {
  latin1Slice(start: number, end: number): string;
  latin1Write(text: string, offset: number, length: number): number;
}

/** The bytes start..end of `buffer` as a latin1 string (one character per byte, no UTF-8 decoding). */
export function latin1Slice(buffer: Buffer, start: number, end: number): string {
  return (buffer as unknown as Latin1Buffer).latin1Slice(start, end);
}

/** Writes `text` (one byte per character) into `buffer` at `offset`; returns the bytes written. */
export function latin1Write(buffer: Buffer, text: string, offset: number): number {
  return (buffer as unknown as Latin1Buffer).latin1Write(text, offset, text.length);
}

/** Code of every symbol, right-aligned (the last bit of the code is bit 0). */
export const HUFFMAN_CODES = new Uint32Array(257);
/** Length in bits of every symbol's code. */
export const HUFFMAN_LENGTHS = Uint8Array.from(CODE_LENGTHS);

function assignCanonicalCodes(): void {
  const order: number[] = [];
  for (let s = 0; s <= EOS; s++) order.push(s);
  order.sort((a, b) => HUFFMAN_LENGTHS[a]! - HUFFMAN_LENGTHS[b]! || a - b);
  let code = 0;
  let length = HUFFMAN_LENGTHS[order[0]!]!;
  for (let i = 0; i < order.length; i++) {
    const symbol = order[i]!;
    const symbolLength = HUFFMAN_LENGTHS[symbol]!;
    // `code * 2 ** k` instead of `<<`: codes reach 30 bits and `<<` would work too, but stay safe.
    code = code * 2 ** (symbolLength - length);
    length = symbolLength;
    HUFFMAN_CODES[symbol] = code;
    code += 1;
  }
}
assignCanonicalCodes();

// Decoding: the code tree has 256 internal nodes (node 0 is the root). The state table has one row of
// 256 entries per internal node, indexed by the next input byte; an entry packs the node reached
// (bits 0–7), the symbols completed on the way (a byte reads at most 2: codes are ≥ 5 bits) in bits
// 8–15 and 16–23, their count in bits 24–25, and two flags. 256 KiB, built on the first Huffman
// string (≈ 5 ms): a proxy that only talks to weft peers, which send raw literals, never builds it.
// One lookup per byte was 1.7× faster than a 16-entry-per-node nibble table (bench/micro/hpack).
const COUNT_SHIFT = 24;
/** The node reached may end a string: it is the root or lies on the all-ones path within 7 bits (EOS padding). */
const ACCEPTS = 1 << 26;
/** The byte completes the EOS symbol, which must never appear in a string (RFC 7541 §5.2). */
const FAILS = 1 << 27;

let decodeTable: Uint32Array | null = null;

function buildDecodeTable(): Uint32Array {
  // children[node * 2 + bit]: an internal node id (< 256) or 256 + symbol for a leaf; -1 = none yet.
  const children = new Int32Array(256 * 2).fill(-1);
  let nodes = 1;
  for (let symbol = 0; symbol <= EOS; symbol++) {
    const code = HUFFMAN_CODES[symbol]!;
    const length = HUFFMAN_LENGTHS[symbol]!;
    let node = 0;
    for (let bitIndex = length - 1; bitIndex > 0; bitIndex--) {
      const slot = node * 2 + (Math.floor(code / 2 ** bitIndex) & 1);
      if (children[slot] === -1) children[slot] = nodes++;
      node = children[slot]!;
    }
    children[node * 2 + (code & 1)] = 256 + symbol;
  }
  // Which nodes may end a string: the root and the all-ones path of depth 1..7.
  const accepting = new Uint8Array(256);
  accepting[0] = 1;
  let onesNode = 0;
  for (let depth = 1; depth <= 7; depth++) {
    onesNode = children[onesNode * 2 + 1]!;
    accepting[onesNode] = 1;
  }
  const table = new Uint32Array(256 * 256);
  for (let state = 0; state < nodes; state++) {
    for (let byte = 0; byte < 256; byte++) {
      let node = state;
      let symbols = 0;
      let count = 0;
      let failed = false;
      for (let bit = 7; bit >= 0; bit--) {
        const next = children[node * 2 + ((byte >> bit) & 1)]!;
        if (next < 256) {
          node = next;
          continue;
        }
        if (next - 256 === EOS) {
          failed = true;
          break;
        }
        symbols |= (next - 256) << (8 + 8 * count);
        count++;
        node = 0;
      }
      table[state * 256 + byte] = failed ? FAILS : (node | symbols | (count << COUNT_SHIFT) | (accepting[node] === 1 ? ACCEPTS : 0)) >>> 0;
    }
  }
  return table;
}

let decodeScratch = Buffer.allocUnsafe(1024);

/**
 * Decodes the Huffman-coded bytes start..end of `input` into a latin1 string (one character per
 * byte). Returns null for a bad code: EOS inside the string, padding longer than 7 bits or not all
 * ones (the caller turns that into its error).
 */
export function huffmanDecode(input: Buffer, start: number, end: number): string | null {
  const table = (decodeTable ??= buildDecodeTable());
  // Every symbol is at least 5 bits long, so n input bytes decode to at most 8n/5 symbols.
  const maxOut = Math.ceil(((end - start) * 8) / 5);
  if (decodeScratch.length < maxOut) decodeScratch = Buffer.allocUnsafe(Math.max(maxOut, decodeScratch.length * 2));
  const out = decodeScratch;
  let written = 0;
  let state = 0;
  let accepts = true;
  for (let i = start; i < end; i++) {
    const entry = table[(state << 8) | input[i]!]!;
    if ((entry & FAILS) !== 0) return null;
    const count = (entry >>> COUNT_SHIFT) & 3;
    if (count !== 0) {
      out[written++] = (entry >> 8) & 0xff;
      if (count === 2) out[written++] = (entry >> 16) & 0xff;
    }
    state = entry & 0xff;
    accepts = (entry & ACCEPTS) !== 0;
  }
  if (!accepts) return null;
  return latin1Slice(out, 0, written);
}

/** Length in bytes of `value` (a latin1 string) once Huffman-encoded. */
export function huffmanEncodedLength(value: string): number {
  let bits = 0;
  for (let i = 0; i < value.length; i++) bits += HUFFMAN_LENGTHS[value.charCodeAt(i) & 0xff]!;
  return (bits + 7) >> 3;
}

/**
 * Huffman-encodes `value` (a latin1 string) into `target` at `offset`, padding the last byte with ones
 * (the EOS prefix); returns the offset after the last byte written. `target` must have room for
 * huffmanEncodedLength(value) bytes.
 */
export function huffmanEncodeInto(value: string, target: Buffer, offset: number): number {
  // `pending` holds fewer than 8 not-yet-written bits, right-aligned; a code adds at most 30 more, so
  // the sum stays below 2^38 and is kept exact in a double (no 32-bit bit operations on it).
  let pending = 0;
  let pendingBits = 0;
  let position = offset;
  for (let i = 0; i < value.length; i++) {
    const symbol = value.charCodeAt(i) & 0xff;
    const length = HUFFMAN_LENGTHS[symbol]!;
    pending = pending * (1 << length) + HUFFMAN_CODES[symbol]!;
    pendingBits += length;
    while (pendingBits >= 8) {
      pendingBits -= 8;
      const divisor = 2 ** pendingBits;
      const byte = Math.floor(pending / divisor);
      target[position++] = byte;
      pending -= byte * divisor;
    }
  }
  if (pendingBits > 0) target[position++] = (pending << (8 - pendingBits)) | (0xff >> pendingBits);
  return position;
}
