// HPACK (RFC 7541): the header compression of weft's own HTTP/2 codec — a decoder with the static and
// dynamic tables, every representation, Huffman strings and a header-list size limit (HPACK bomb
// defence), and an encoder tuned for a proxy that sends the same names and values again and again.

import { WeftError } from '../../../core/errors.ts';
import type { H2HeaderList } from './api.ts';
import { huffmanDecode, huffmanEncodedLength, huffmanEncodeInto, latin1Slice, latin1Write } from './huffman.ts';

/** Malformed header block (→ COMPRESSION_ERROR on the connection). */
export class HpackError extends WeftError {
  constructor(message: string) {
    super('HPACK_DECODE', `HPACK: ${message}`);
  }
}

/** Raw string literals up to this length are written by a JS loop instead of a call to latin1Write. */
const SHORT_RAW_STRING = 24;
/** Size of a table entry or header field per RFC 7541 §4.1 / RFC 9113 §6.5.2. */
const ENTRY_OVERHEAD = 32;
/** Default SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2). */
export const DEFAULT_HEADER_TABLE_SIZE = 4096;
/** Field positions per block whose last literal value the decoder remembers, and the longest value it keeps. */
const REMEMBERED_LITERALS = 32;
const MAX_REMEMBERED_LITERAL = 126;
/** Integers above this are refused (RFC 7541 §5.1 leaves the limit to the implementation). */
const MAX_INTEGER = 0x7fffffff;

/** RFC 7541 Appendix A: index i (1-based) is STATIC_TABLE[i - 1]. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_COUNT = STATIC_TABLE.length; // 61

const STATIC_NAMES: readonly string[] = STATIC_TABLE.map((entry) => entry[0]);
const STATIC_VALUES: readonly string[] = STATIC_TABLE.map((entry) => entry[1]);

/** Static entries with a value (name → (value → index)), for the encoder's exact matches. */
const STATIC_PAIR_INDEX = new Map<string, Map<string, number>>();
/** Static names (name → first index). */
const STATIC_NAME_INDEX = new Map<string, number>();
for (let i = 0; i < STATIC_COUNT; i++) {
  const [name, value] = STATIC_TABLE[i]!;
  if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, i + 1);
  let values = STATIC_PAIR_INDEX.get(name);
  if (values === undefined) STATIC_PAIR_INDEX.set(name, (values = new Map()));
  if (!values.has(value)) values.set(value, i + 1);
}

// ---------------------------------------------------------------------------------------------------
// Decoder

/**
 * Decodes the header blocks of one direction of one connection. The dynamic table is a ring of
 * parallel name/value arrays (slot `newest` holds HPACK index 62), evicted by size.
 */
export class HpackDecoder {
  /** The largest table size the peer's encoder may choose (what we advertise in SETTINGS_HEADER_TABLE_SIZE). */
  private maxTableSizeLimit: number;
  /** The table size the peer's encoder chose last (dynamic table size update), at most the limit. */
  private maxTableSize: number;
  private tableSize = 0;
  private names: string[] = new Array<string>(16).fill('');
  private values: string[] = new Array<string>(16).fill('');
  private mask = 15;
  private newest = 0;
  private count = 0;

  constructor(maxTableSize = DEFAULT_HEADER_TABLE_SIZE) {
    this.maxTableSizeLimit = maxTableSize;
    this.maxTableSize = maxTableSize;
  }

  /** Entries in the dynamic table now (for tests and diagnostics). */
  get dynamicTableLength(): number {
    return this.count;
  }

  /** Bytes the dynamic table holds now, counted per RFC 7541 §4.1. */
  get dynamicTableSize(): number {
    return this.tableSize;
  }

  /**
   * Changes the limit we advertise (after our SETTINGS with a new SETTINGS_HEADER_TABLE_SIZE was
   * acknowledged). A lower limit shrinks the table at once: the peer must follow with a size update.
   */
  setMaxTableSizeLimit(limit: number): void {
    this.maxTableSizeLimit = limit;
    if (this.maxTableSize > limit) {
      this.maxTableSize = limit;
      this.evictTo(limit);
    }
  }

  /**
   * Decodes one complete header block, appending name, value pairs to `out`. Returns false when the
   * list grew beyond `maxListBytes` (name + value + 32 per field, RFC 9113 §6.5.2): the fields past
   * the limit are not appended, but the block is decoded to its end so the dynamic table stays in
   * step with the peer's encoder. Throws HpackError for a malformed block (the connection is then
   * unusable: COMPRESSION_ERROR). `start`/`end`: the block is that range of `block` (a frame's
   * fragment read in place, no view made).
   */
  decode(block: Buffer, out: H2HeaderList, maxListBytes: number, start = 0, end = block.length): boolean {
    this.blockEnd = end;
    let position = start;
    let listBytes = 0;
    let withinLimit = true;
    let fieldsSeen = false;
    let field = 0;
    while (position < end) {
      const first = block[position]!;
      let name: string;
      let value: string;
      if (first >= 0x80) {
        // Indexed header field (§6.1).
        let index = first & 0x7f;
        position++;
        if (index === 0x7f) {
          index = this.readIntegerContinuation(block, position, 0x7f);
          position = this.integerEnd;
        }
        if (index === 0) throw new HpackError('indexed header field with index 0');
        if (index <= STATIC_COUNT) {
          name = STATIC_NAMES[index - 1]!;
          value = STATIC_VALUES[index - 1]!;
        } else {
          const dynamicIndex = index - STATIC_COUNT - 1;
          if (dynamicIndex >= this.count) throw new HpackError(`index ${index} is beyond the tables (${STATIC_COUNT + this.count} entries)`);
          const slot = (this.newest - dynamicIndex) & this.mask;
          name = this.names[slot]!;
          value = this.values[slot]!;
        }
      } else if ((first & 0xe0) === 0x20) {
        // Dynamic table size update (§6.3): only at the start of a block.
        if (fieldsSeen) throw new HpackError('dynamic table size update after the first header field');
        let size = first & 0x1f;
        position++;
        if (size === 0x1f) {
          size = this.readIntegerContinuation(block, position, 0x1f);
          position = this.integerEnd;
        }
        if (size > this.maxTableSizeLimit) throw new HpackError(`dynamic table size update to ${size} above the limit ${this.maxTableSizeLimit}`);
        this.maxTableSize = size;
        this.evictTo(size);
        continue;
      } else {
        // Literal header field: with incremental indexing (01xxxxxx, 6-bit index), without indexing
        // (0000xxxx) or never indexed (0001xxxx), 4-bit index.
        const indexing = first >= 0x40;
        const prefixMask = indexing ? 0x3f : 0x0f;
        let index = first & prefixMask;
        position++;
        if (index === prefixMask) {
          index = this.readIntegerContinuation(block, position, prefixMask);
          position = this.integerEnd;
        }
        if (index === 0) {
          name = this.readString(block, position);
          position = this.stringEnd;
        } else if (index <= STATIC_COUNT) {
          name = STATIC_NAMES[index - 1]!;
        } else {
          const dynamicIndex = index - STATIC_COUNT - 1;
          if (dynamicIndex >= this.count) throw new HpackError(`name index ${index} is beyond the tables (${STATIC_COUNT + this.count} entries)`);
          name = this.names[(this.newest - dynamicIndex) & this.mask]!;
        }
        value = this.readLiteralValue(block, position, field);
        position = this.stringEnd;
        if (indexing) this.insert(name, value);
      }
      fieldsSeen = true;
      field++;
      if (withinLimit) {
        listBytes += name.length + value.length + ENTRY_OVERHEAD;
        if (listBytes > maxListBytes) withinLimit = false;
        else out.push(name, value);
      }
    }
    return withinLimit;
  }

  /** Where the block being decoded ends. */
  private blockEnd = 0;
  /** Where the last integer read ended (a field instead of a returned pair: no allocation per integer). */
  private integerEnd = 0;
  /** Where the last string read ended. */
  private stringEnd = 0;

  /** Reads the continuation bytes of an integer whose prefix was all ones (`prefixMax`), from `position`. */
  private readIntegerContinuation(block: Buffer, position: number, prefixMax: number): number {
    let value = prefixMax;
    let multiplier = 1;
    for (;;) {
      if (position >= this.blockEnd) throw new HpackError('header block ends inside an integer');
      const byte = block[position++]!;
      value += (byte & 0x7f) * multiplier;
      if (value > MAX_INTEGER) throw new HpackError('integer above 2^31 - 1');
      if (byte < 0x80) break;
      multiplier *= 128;
      // Leading zero groups could keep `value` small forever: bound the byte count instead.
      if (multiplier > 2 ** 35) throw new HpackError('integer encoded with too many bytes');
    }
    this.integerEnd = position;
    return value;
  }

  /**
   * The value of a literal field, the `field`-th of its block: like readString, but a raw value with
   * the same bytes as the literal value last decoded at that position is that same string (a peer
   * that does not index a field — content-length, date — sends it again and again: no new string,
   * and whoever compares it with the last one finds it identical).
   */
  private readLiteralValue(block: Buffer, position: number, field: number): string {
    if (field >= REMEMBERED_LITERALS || position >= this.blockEnd) return this.readString(block, position);
    const first = block[position]!;
    const last = this.lastLiterals[field]!;
    // Raw (not Huffman) and short enough for the length to sit in the prefix: compare in place.
    if (first === last.length && first < 0x7f) {
      const start = position + 1;
      const end = start + first;
      if (end <= this.blockEnd) {
        let same = true;
        for (let i = 0; i < first; i++) {
          if (block[start + i] !== last.charCodeAt(i)) {
            same = false;
            break;
          }
        }
        if (same) {
          this.stringEnd = end;
          return last;
        }
      }
    }
    const value = this.readString(block, position);
    if (first < 0x80 && value.length <= MAX_REMEMBERED_LITERAL) this.lastLiterals[field] = value;
    return value;
  }

  /** The last raw literal value decoded at each field position (see readLiteralValue). */
  private readonly lastLiterals: string[] = new Array<string>(REMEMBERED_LITERALS).fill('');

  /** Reads a string literal (§5.2) at `position`; sets `stringEnd`. Bytes map 1:1 to latin1 characters. */
  private readString(block: Buffer, position: number): string {
    if (position >= this.blockEnd) throw new HpackError('header block ends before a string literal');
    const first = block[position]!;
    const huffman = first >= 0x80;
    let length = first & 0x7f;
    position++;
    if (length === 0x7f) {
      length = this.readIntegerContinuation(block, position, 0x7f);
      position = this.integerEnd;
    }
    const end = position + length;
    if (end > this.blockEnd) throw new HpackError('string literal runs past the end of the header block');
    this.stringEnd = end;
    if (length === 0) return '';
    if (!huffman) return latin1Slice(block, position, end);
    const decoded = huffmanDecode(block, position, end);
    if (decoded === null) throw new HpackError('invalid Huffman string (EOS symbol, or padding that is not 1-7 one bits)');
    return decoded;
  }

  private insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.maxTableSize) {
      // §4.4: an entry larger than the table empties it and is not added.
      this.evictTo(0);
      return;
    }
    this.evictTo(this.maxTableSize - size);
    if (this.count > this.mask) this.grow();
    this.newest = (this.newest + 1) & this.mask;
    this.names[this.newest] = name;
    this.values[this.newest] = value;
    this.count++;
    this.tableSize += size;
  }

  /** Evicts the oldest entries until the table holds at most `size` bytes. */
  private evictTo(size: number): void {
    while (this.tableSize > size && this.count > 0) {
      const oldest = (this.newest - this.count + 1) & this.mask;
      this.tableSize -= this.names[oldest]!.length + this.values[oldest]!.length + ENTRY_OVERHEAD;
      // Drop the references so evicted strings can be collected.
      this.names[oldest] = '';
      this.values[oldest] = '';
      this.count--;
    }
  }

  private grow(): void {
    const capacity = (this.mask + 1) * 2;
    const names = new Array<string>(capacity).fill('');
    const values = new Array<string>(capacity).fill('');
    // Copy oldest first so the newest ends at count - 1.
    for (let i = 0; i < this.count; i++) {
      const slot = (this.newest - this.count + 1 + i) & this.mask;
      names[i] = this.names[slot]!;
      values[i] = this.values[slot]!;
    }
    this.names = names;
    this.values = values;
    this.mask = capacity - 1;
    this.newest = this.count - 1;
  }
}

// ---------------------------------------------------------------------------------------------------
// Encoder

/** How the encoder represents a field it did not find in the tables: the pattern bits of the literal's first byte. */
const INDEXING_INCREMENTAL = 0x40;
const INDEXING_WITHOUT = 0x00;
const INDEXING_NEVER = 0x10;

/** Names whose values are (nearly) unique per message: indexing them would only churn the table. */
const UNINDEXED_NAMES = new Set<string>([
  'content-length',
  'date',
  'etag',
  'last-modified',
  'if-modified-since',
  'if-none-match',
  'location',
  'age',
  'expires',
  'x-request-id',
  'traceparent',
  'tracestate',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'b3',
  'grpc-timeout',
]);

/** Names whose short values are sent never-indexed (RFC 7541 §7.1.3: guessable secrets). */
const SENSITIVE_NAMES = new Set<string>(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);
/** Values of SENSITIVE_NAMES shorter than this are never indexed (§7.1.3); longer ones are merely not indexed. */
const SENSITIVE_SHORT_VALUE = 20;
/** Values longer than this are sent without indexing (they would evict many useful entries). */
const MAX_INDEXED_VALUE_LENGTH = 256;
/** :path values longer than this are sent without indexing (long paths are usually unique). */
const MAX_INDEXED_PATH_LENGTH = 64;

/** Indexing policy of a name (what indexingFor decides before looking at the value). */
const POLICY_INDEX = 0;
const POLICY_UNINDEXED = 1;
const POLICY_SENSITIVE = 2;
const POLICY_PATH = 3;

function policyOf(name: string): number {
  if (SENSITIVE_NAMES.has(name)) return POLICY_SENSITIVE;
  if (UNINDEXED_NAMES.has(name)) return POLICY_UNINDEXED;
  if (name === ':path') return POLICY_PATH;
  return POLICY_INDEX;
}

/** What the encoder knows about one header name: one Map lookup per field finds all of it. */
class EncoderName {
  /** Values of this name in the dynamic table → insertion number (null: none). */
  dynamicValues: Map<string, number> | null = null;
  /** Insertion number of the newest dynamic entry with this name (-1: none). */
  newestInsertion = -1;
  /**
   * The value this name was last sent with as an indexed field, and where it was found: comparing a
   * fresh value string with it costs less than hashing it for a Map lookup (a proxy repeats values).
   */
  lastValue: string | null = null;
  /** Static index of lastValue (0: it is the dynamic entry lastInsertion). */
  lastStatic = 0;
  lastInsertion = -1;
  constructor(
    /** First static index with this name (0: not a static name). */
    readonly staticIndex: number,
    /** Static entries of this name with a value (null when there are none besides the empty value). */
    readonly staticValues: Map<string, number> | null,
    readonly policy: number,
  ) {}
}

function staticEncoderNames(): Map<string, EncoderName> {
  const names = new Map<string, EncoderName>();
  for (const [name, index] of STATIC_NAME_INDEX) names.set(name, new EncoderName(index, STATIC_PAIR_INDEX.get(name) ?? null, policyOf(name)));
  return names;
}

// Encoded blocks are carved out of a shared slab (like Buffer's own pool, minus the copy): encode()
// is synchronous, so views handed out never overlap, and each stays valid as long as its holder keeps it.
const SLAB_SIZE = 64 * 1024;
let slab: Buffer = Buffer.allocUnsafe(SLAB_SIZE);
let slabUsed = 0;

/** Bytes the size updates at the start of a block may take (two integers of at most 6 bytes). */
const SIZE_UPDATE_ROOM = 16;
/** Bytes one field may take beyond its name and value (three integers of at most 6 bytes each). */
const FIELD_OVERHEAD = 18;

export interface HpackEncoderOptions {
  /** Largest dynamic table this encoder uses, whatever the peer allows. Default 4096. */
  maxTableSize?: number;
  /** Huffman-encode string literals when that makes them shorter. Default false: raw is cheaper in CPU (bench/micro/hpack). */
  huffman?: boolean;
}

/**
 * Encodes the header blocks of one direction of one connection. Exact matches in the static or
 * dynamic table become indexed fields (one byte); repeated fields are added to the dynamic table with
 * incremental indexing; long, unique or secret values are sent as literals that are not indexed.
 * Lookups: one Map name → EncoderName (static index, static values, dynamic values → insertion
 * number), kept in step with eviction.
 */
export class HpackEncoder {
  /** The peer decoder's limit (its SETTINGS_HEADER_TABLE_SIZE) capped by our own maximum. */
  private maxTableSize: number;
  private readonly ownMaxTableSize: number;
  private readonly huffman: boolean;
  /** Smallest size set since the last block (-1: none pending): §4.2 asks for it to be signalled first. */
  private pendingMinSize = -1;
  private pendingSizeUpdate = false;

  private tableSize = 0;
  /** Ring of entries by insertion number: slot = insertion & mask. */
  private entryNames: EncoderName[] = [];
  private entryValues: string[] = new Array<string>(16).fill('');
  private entryNameStrings: string[] = new Array<string>(16).fill('');
  private mask = 15;
  /** Insertion number of the next entry; the newest has inserted - 1, the oldest inserted - count. */
  private inserted = 0;
  private count = 0;
  private readonly names = staticEncoderNames();
  /** The names of the previous blocks by field position, and what they resolved to (saves hashing fresh name strings). */
  private readonly positionNameStrings: string[] = [];
  private readonly positionNames: EncoderName[] = [];

  constructor(options: HpackEncoderOptions = {}) {
    this.ownMaxTableSize = options.maxTableSize ?? DEFAULT_HEADER_TABLE_SIZE;
    this.maxTableSize = Math.min(this.ownMaxTableSize, DEFAULT_HEADER_TABLE_SIZE);
    this.huffman = options.huffman ?? false;
    this.entryNames = new Array<EncoderName>(16);
    if (this.maxTableSize !== DEFAULT_HEADER_TABLE_SIZE) {
      this.pendingSizeUpdate = true;
      this.pendingMinSize = this.maxTableSize;
    }
  }

  /** Entries in the dynamic table now (for tests and diagnostics). */
  get dynamicTableLength(): number {
    return this.count;
  }

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE changed: the table we use becomes min(n, our maximum),
   * signalled with a dynamic table size update at the start of the next block.
   */
  setMaxTableSize(n: number): void {
    const size = Math.min(n, this.ownMaxTableSize);
    if (size === this.maxTableSize) return;
    this.maxTableSize = size;
    this.pendingSizeUpdate = true;
    if (this.pendingMinSize === -1 || size < this.pendingMinSize) this.pendingMinSize = size;
    this.evictTo(size);
  }

  /**
   * Encodes one header block (flat list: name, value, ...). The returned Buffer is the caller's to
   * keep (a view into a shared slab that is never written again).
   */
  encode(headers: H2HeaderList): Buffer {
    const worst = HpackEncoder.maxEncodedLength(headers);
    let buffer = slab;
    let blockStart = slabUsed;
    if (blockStart + worst > buffer.length) {
      // A fresh slab when the block fits one, else a buffer of its own (a rare huge block must not
      // leave a huge slab behind).
      buffer = Buffer.allocUnsafe(worst > SLAB_SIZE ? worst : SLAB_SIZE);
      blockStart = 0;
      if (worst <= SLAB_SIZE) {
        slab = buffer;
        slabUsed = 0;
      }
    }
    const end = this.encodeInto(headers, buffer, blockStart);
    if (buffer === slab) slabUsed = end;
    return buffer.subarray(blockStart, end);
  }

  /**
   * The most bytes encodeInto may write for `headers`: whatever the tables hold, a block is never
   * longer (raw literals of every name and value, the largest integers, two size updates).
   */
  static maxEncodedLength(headers: H2HeaderList): number {
    let n = SIZE_UPDATE_ROOM;
    for (let i = 0; i < headers.length; i++) n += headers[i]!.length;
    return n + (headers.length >> 1) * FIELD_OVERHEAD;
  }

  /**
   * Encodes one header block into `target` at `position` (the session writes it straight into its
   * output, no intermediate buffer); returns where it ends. `target` must have room for
   * maxEncodedLength(headers) bytes from `position`.
   */
  encodeInto(headers: H2HeaderList, target: Buffer, position: number): number {
    const buffer = target;
    if (this.pendingSizeUpdate) {
      if (this.pendingMinSize < this.maxTableSize) position = writeInteger(buffer, position, 0x20, 0x1f, this.pendingMinSize);
      position = writeInteger(buffer, position, 0x20, 0x1f, this.maxTableSize);
      this.pendingSizeUpdate = false;
      this.pendingMinSize = -1;
    }
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = headers[i]!;
      const value = headers[i + 1]!;
      // The name: the same as at this position in the previous block (a string compare), else a Map lookup.
      const field = i >> 1;
      let known: EncoderName | undefined;
      if (this.positionNameStrings[field] === name) known = this.positionNames[field];
      else {
        known = this.names.get(name);
        if (known !== undefined) {
          this.positionNameStrings[field] = name;
          this.positionNames[field] = known;
        }
      }
      if (known !== undefined) {
        if (known.lastValue === value) {
          if (known.lastStatic !== 0) {
            position = writeInteger(buffer, position, 0x80, 0x7f, known.lastStatic);
            continue;
          }
          if (known.lastInsertion >= this.inserted - this.count) {
            position = writeInteger(buffer, position, 0x80, 0x7f, STATIC_COUNT + this.inserted - known.lastInsertion);
            continue;
          }
        }
        if (known.staticValues !== null) {
          const staticIndex = known.staticValues.get(value);
          if (staticIndex !== undefined) {
            known.lastValue = value;
            known.lastStatic = staticIndex;
            position = writeInteger(buffer, position, 0x80, 0x7f, staticIndex);
            continue;
          }
        }
        if (known.dynamicValues !== null) {
          const insertion = known.dynamicValues.get(value);
          if (insertion !== undefined) {
            known.lastValue = value;
            known.lastStatic = 0;
            known.lastInsertion = insertion;
            position = writeInteger(buffer, position, 0x80, 0x7f, STATIC_COUNT + this.inserted - insertion);
            continue;
          }
        }
      }
      const indexing = this.indexingFor(known === undefined ? policyOf(name) : known.policy, name, value);
      let nameIndex = 0;
      if (known !== undefined) nameIndex = known.staticIndex !== 0 ? known.staticIndex : known.newestInsertion === -1 ? 0 : STATIC_COUNT + this.inserted - known.newestInsertion;
      if (indexing === INDEXING_INCREMENTAL) position = writeInteger(buffer, position, 0x40, 0x3f, nameIndex);
      else position = writeInteger(buffer, position, indexing, 0x0f, nameIndex);
      if (nameIndex === 0) position = this.writeString(buffer, position, name);
      position = this.writeString(buffer, position, value);
      if (indexing === INDEXING_INCREMENTAL) {
        const entry = this.insert(known, name, value);
        this.positionNameStrings[field] = name;
        this.positionNames[field] = entry;
      }
    }
    return position;
  }

  private indexingFor(policy: number, name: string, value: string): number {
    if (policy === POLICY_SENSITIVE) return value.length < SENSITIVE_SHORT_VALUE ? INDEXING_NEVER : INDEXING_WITHOUT;
    if (policy === POLICY_UNINDEXED || value.length > MAX_INDEXED_VALUE_LENGTH) return INDEXING_WITHOUT;
    if (policy === POLICY_PATH && value.length > MAX_INDEXED_PATH_LENGTH) return INDEXING_WITHOUT;
    // An entry larger than the table would only empty it.
    if (name.length + value.length + ENTRY_OVERHEAD > this.maxTableSize) return INDEXING_WITHOUT;
    return INDEXING_INCREMENTAL;
  }

  private writeString(buffer: Buffer, position: number, value: string): number {
    if (this.huffman && value.length > 0) {
      const encodedLength = huffmanEncodedLength(value);
      if (encodedLength < value.length) {
        position = writeInteger(buffer, position, 0x80, 0x7f, encodedLength);
        return huffmanEncodeInto(value, buffer, position);
      }
    }
    const n = value.length;
    position = writeInteger(buffer, position, 0x00, 0x7f, n);
    if (n > SHORT_RAW_STRING) return position + latin1Write(buffer, value, position);
    // Short strings are copied here: a call into latin1Write costs more than the loop (bytes stay latin1).
    for (let i = 0; i < n; i++) buffer[position + i] = value.charCodeAt(i);
    return position + n;
  }

  /** Adds an entry to the dynamic table; returns the EncoderName that now holds it. */
  private insert(known: EncoderName | undefined, name: string, value: string): EncoderName {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    this.evictTo(this.maxTableSize - size);
    // Eviction may have dropped the name's entry; look it up again only then.
    let entry = known !== undefined && (known.staticIndex !== 0 || known.dynamicValues !== null) ? known : this.names.get(name);
    if (entry === undefined) {
      entry = new EncoderName(0, null, policyOf(name));
      this.names.set(name, entry);
    }
    if (this.count > this.mask) this.grow();
    const insertion = this.inserted++;
    const slot = insertion & this.mask;
    this.entryNames[slot] = entry;
    this.entryNameStrings[slot] = name;
    this.entryValues[slot] = value;
    this.count++;
    this.tableSize += size;
    if (entry.dynamicValues === null) entry.dynamicValues = new Map();
    entry.dynamicValues.set(value, insertion);
    entry.newestInsertion = insertion;
    entry.lastValue = value;
    entry.lastStatic = 0;
    entry.lastInsertion = insertion;
    return entry;
  }

  private evictTo(size: number): void {
    while (this.tableSize > size && this.count > 0) {
      const insertion = this.inserted - this.count;
      const slot = insertion & this.mask;
      const entry = this.entryNames[slot]!;
      const name = this.entryNameStrings[slot]!;
      const value = this.entryValues[slot]!;
      this.tableSize -= name.length + value.length + ENTRY_OVERHEAD;
      this.entryValues[slot] = '';
      this.entryNameStrings[slot] = '';
      this.count--;
      const values = entry.dynamicValues!;
      if (values.get(value) === insertion) values.delete(value);
      if (entry.newestInsertion === insertion) {
        // The newest entry of this name was the last one left (eviction goes oldest first).
        entry.newestInsertion = -1;
        entry.dynamicValues = null;
        if (entry.staticIndex === 0) this.names.delete(name);
      }
    }
  }

  private grow(): void {
    const capacity = (this.mask + 1) * 2;
    const entryNames = new Array<EncoderName>(capacity);
    const entryNameStrings = new Array<string>(capacity).fill('');
    const entryValues = new Array<string>(capacity).fill('');
    for (let insertion = this.inserted - this.count; insertion < this.inserted; insertion++) {
      const from = insertion & this.mask;
      const to = insertion & (capacity - 1);
      entryNames[to] = this.entryNames[from]!;
      entryNameStrings[to] = this.entryNameStrings[from]!;
      entryValues[to] = this.entryValues[from]!;
    }
    this.entryNames = entryNames;
    this.entryNameStrings = entryNameStrings;
    this.entryValues = entryValues;
    this.mask = capacity - 1;
  }
}

/** Writes an HPACK integer (§5.1) with `pattern` in the bits above the `prefixMax` prefix; returns the new position. */
function writeInteger(buffer: Buffer, position: number, pattern: number, prefixMax: number, value: number): number {
  if (value < prefixMax) {
    buffer[position] = pattern | value;
    return position + 1;
  }
  buffer[position++] = pattern | prefixMax;
  value -= prefixMax;
  while (value >= 0x80) {
    buffer[position++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  buffer[position] = value;
  return position + 1;
}
