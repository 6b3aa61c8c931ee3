// Tests of HPACK (hpack.ts, huffman.ts): the RFC 7541 Appendix C vectors, encoder/decoder round trips
// with eviction, interop with node's http2 client, the header-list limit and malformed input.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { HpackDecoder, HpackEncoder, HpackError } from './hpack.ts';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, huffmanDecode, huffmanEncodedLength, huffmanEncodeInto } from './huffman.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

const pairs = (list: string[]): [string, string][] => {
  const out: [string, string][] = [];
  for (let i = 0; i < list.length; i += 2) out.push([list[i]!, list[i + 1]!]);
  return out;
};

const flat = (list: [string, string][]): string[] => list.flatMap(([name, value]) => [name, value]);

function decodeAll(decoder: HpackDecoder, block: Buffer, limit = 1 << 20): [string, string][] {
  const out: string[] = [];
  assert.equal(decoder.decode(block, out, limit), true);
  return pairs(out);
}

const REQUEST_1: [string, string][] = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
const REQUEST_2: [string, string][] = [...REQUEST_1, ['cache-control', 'no-cache']];
const REQUEST_3: [string, string][] = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']];
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESPONSE_1: [string, string][] = [[':status', '302'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['location', 'https://www.example.com']];
const RESPONSE_2: [string, string][] = [[':status', '307'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'], ['location', 'https://www.example.com']];
const RESPONSE_3: [string, string][] = [
  [':status', '200'],
  ['cache-control', 'private'],
  ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
  ['location', 'https://www.example.com'],
  ['content-encoding', 'gzip'],
  ['set-cookie', COOKIE],
];

describe('Huffman code (RFC 7541 Appendix B)', () => {
  it('derives the RFC codes from the lengths alone', () => {
    // Spot checks against Appendix B: [symbol, code, length].
    const expected: [number, number, number][] = [
      [0, 0x1ff8, 13], [1, 0x7fffd8, 23], [10, 0x3ffffffc, 30], [32, 0x14, 6], [48, 0x0, 5], [97, 0x3, 5],
      [122, 0x7b, 7], [127, 0xffffffc, 28], [128, 0xfffe6, 20], [200, 0x3ffffe2, 26], [233, 0x3fffeb, 22],
      [255, 0x3ffffee, 26], [256, 0x3fffffff, 30],
    ];
    for (const [symbol, code, length] of expected) {
      assert.equal(HUFFMAN_LENGTHS[symbol], length, `length of ${symbol}`);
      assert.equal(HUFFMAN_CODES[symbol], code, `code of ${symbol}`);
    }
  });

  it('decodes the Appendix C strings and encodes them back to the same bytes', () => {
    const vectors: [string, string][] = [
      ['f1e3 c2e5 f23a 6ba0 ab90 f4ff', 'www.example.com'],
      ['a8eb 1064 9cbf', 'no-cache'],
      ['25a8 49e9 5ba9 7d7f', 'custom-key'],
      ['25a8 49e9 5bb8 e8b4 bf', 'custom-value'],
      ['6402', '302'],
      ['aec3 771a 4b', 'private'],
      ['d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3', 'https://www.example.com'],
    ];
    for (const [encodedHex, text] of vectors) {
      const encoded = hex(encodedHex);
      assert.equal(huffmanDecode(encoded, 0, encoded.length), text);
      assert.equal(huffmanEncodedLength(text), encoded.length);
      const target = Buffer.alloc(encoded.length);
      assert.equal(huffmanEncodeInto(text, target, 0), encoded.length);
      assert.deepEqual(target, encoded);
    }
  });

  it('round-trips every byte value, alone and in runs', () => {
    for (let byte = 0; byte < 256; byte++) {
      for (const text of [String.fromCharCode(byte), String.fromCharCode(byte).repeat(9), `a${String.fromCharCode(byte)}zz`]) {
        const target = Buffer.alloc(huffmanEncodedLength(text));
        const end = huffmanEncodeInto(text, target, 0);
        assert.equal(end, target.length);
        assert.equal(huffmanDecode(target, 0, end), text, `byte ${byte}`);
      }
    }
  });

  it('refuses EOS in a string, zero padding and padding longer than 7 bits', () => {
    assert.equal(huffmanDecode(hex('00'), 0, 1), null, "'0' (00000) padded with zeros");
    assert.equal(huffmanDecode(hex('ff'), 0, 1), null, 'eight one bits of padding');
    assert.equal(huffmanDecode(hex('ffff'), 0, 2), null, 'sixteen one bits');
    assert.equal(huffmanDecode(hex('ffff fffc'), 0, 4), null, 'EOS then padding');
    assert.equal(huffmanDecode(hex('07'), 0, 1), '0', "'0' padded with ones is fine");
    assert.equal(huffmanDecode(hex(''), 0, 0), '');
  });
});

describe('HpackDecoder: RFC 7541 Appendix C', () => {
  it('C.2 literal representations', () => {
    let decoder = new HpackDecoder();
    assert.deepEqual(decodeAll(decoder, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')), [['custom-key', 'custom-header']]);
    assert.equal(decoder.dynamicTableSize, 55);
    decoder = new HpackDecoder();
    assert.deepEqual(decodeAll(decoder, hex('040c 2f73 616d 706c 652f 7061 7468')), [[':path', '/sample/path']]);
    assert.equal(decoder.dynamicTableLength, 0);
    decoder = new HpackDecoder();
    assert.deepEqual(decodeAll(decoder, hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), [['password', 'secret']]);
    assert.equal(decoder.dynamicTableLength, 0);
    decoder = new HpackDecoder();
    assert.deepEqual(decodeAll(decoder, hex('82')), [[':method', 'GET']]);
    assert.equal(decoder.dynamicTableLength, 0);
  });

  it('C.3 requests without Huffman', () => {
    const decoder = new HpackDecoder();
    assert.deepEqual(decodeAll(decoder, hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d')), REQUEST_1);
    assert.equal(decoder.dynamicTableSize, 57);
    assert.deepEqual(decodeAll(decoder, hex('8286 84be 5808 6e6f 2d63 6163 6865')), REQUEST_2);
    assert.equal(decoder.dynamicTableSize, 110);
    assert.deepEqual(decodeAll(decoder, hex('8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65')), REQUEST_3);
    assert.equal(decoder.dynamicTableSize, 164);
    assert.equal(decoder.dynamicTableLength, 3);
  });

  it('C.4 requests with Huffman', () => {
    const decoder = new HpackDecoder();
    assert.deepEqual(decodeAll(decoder, hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff')), REQUEST_1);
    assert.deepEqual(decodeAll(decoder, hex('8286 84be 5886 a8eb 1064 9cbf')), REQUEST_2);
    assert.deepEqual(decodeAll(decoder, hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')), REQUEST_3);
    assert.equal(decoder.dynamicTableSize, 164);
  });

  it('C.5 responses without Huffman, 256-byte table with eviction', () => {
    const decoder = new HpackDecoder(256);
    assert.deepEqual(
      decodeAll(
        decoder,
        hex(
          '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        ),
      ),
      RESPONSE_1,
    );
    assert.equal(decoder.dynamicTableSize, 222);
    assert.deepEqual(decodeAll(decoder, hex('4803 3330 37c1 c0bf')), RESPONSE_2);
    assert.equal(decoder.dynamicTableSize, 222);
    assert.deepEqual(
      decodeAll(
        decoder,
        hex(
          '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
        ),
      ),
      RESPONSE_3,
    );
    assert.equal(decoder.dynamicTableSize, 215);
    assert.equal(decoder.dynamicTableLength, 3);
  });

  it('C.6 responses with Huffman, 256-byte table with eviction', () => {
    const decoder = new HpackDecoder(256);
    assert.deepEqual(
      decodeAll(decoder, hex('4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3')),
      RESPONSE_1,
    );
    assert.deepEqual(decodeAll(decoder, hex('4883 640e ffc1 c0bf')), RESPONSE_2);
    assert.deepEqual(
      decodeAll(
        decoder,
        hex(
          '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
        ),
      ),
      RESPONSE_3,
    );
    assert.equal(decoder.dynamicTableSize, 215);
  });

  it('keeps header values as bytes (latin1), never replacing invalid UTF-8', () => {
    const decoder = new HpackDecoder();
    // Literal without indexing, new name "x", raw value bytes c3 28 ff.
    assert.deepEqual(decodeAll(decoder, hex('0001 7803 c328 ff')), [['x', '\u00c3(\u00ff']]);
  });
});

describe('HpackEncoder', () => {
  it('round-trips the Appendix C header lists through a fresh decoder, with and without Huffman', () => {
    for (const huffman of [false, true]) {
      for (const tableSize of [4096, 256]) {
        const encoder = new HpackEncoder({ huffman });
        encoder.setMaxTableSize(tableSize);
        const decoder = new HpackDecoder(tableSize);
        for (const list of [REQUEST_1, REQUEST_2, REQUEST_3, RESPONSE_1, RESPONSE_2, RESPONSE_3, REQUEST_1, RESPONSE_3]) {
          assert.deepEqual(decodeAll(decoder, encoder.encode(flat(list))), list);
        }
      }
    }
  });

  it('sends a repeated head as one byte per field', () => {
    const encoder = new HpackEncoder();
    const head = [':method', 'GET', ':scheme', 'https', ':path', '/api/items', ':authority', 'catalog.shop', 'user-agent', 'bench/1.0', 'accept', '*/*'];
    const first = encoder.encode(head);
    const second = encoder.encode(head);
    assert.ok(first.length > head.length, 'the first block carries the literals');
    assert.equal(second.length, head.length / 2);
    const decoder = new HpackDecoder();
    assert.deepEqual(decodeAll(decoder, first), pairs(head));
    assert.deepEqual(decodeAll(decoder, second), pairs(head));
  });

  it('never indexes short secrets and does not index long or unique values', () => {
    const encoder = new HpackEncoder();
    const block = encoder.encode(['authorization', 'Bearer abc', 'cookie', 'a=1', 'content-length', '12', 'x-big', 'v'.repeat(300)]);
    assert.equal(encoder.dynamicTableLength, 0);
    // authorization: static name 23, never indexed (0001xxxx with 4-bit prefix: 0x1f then 23 - 15 = 8).
    assert.deepEqual([...block.subarray(0, 2)], [0x1f, 0x08]);
    const decoder = new HpackDecoder();
    assert.deepEqual(decodeAll(decoder, block), [['authorization', 'Bearer abc'], ['cookie', 'a=1'], ['content-length', '12'], ['x-big', 'v'.repeat(300)]]);
    assert.equal(decoder.dynamicTableLength, 0);
  });

  it('signals a smaller peer table at the start of the next block, the smallest size first', () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder();
    assert.deepEqual(decodeAll(decoder, encoder.encode(['x-a', '1', 'x-b', '2'])), [['x-a', '1'], ['x-b', '2']]);
    assert.equal(decoder.dynamicTableLength, 2);
    encoder.setMaxTableSize(0);
    encoder.setMaxTableSize(100);
    const block = encoder.encode(['x-a', '1']);
    assert.equal(block[0], 0x20, 'size update to 0 first');
    assert.deepEqual(decodeAll(decoder, block), [['x-a', '1']]);
    assert.equal(decoder.dynamicTableLength, 1, 'the table was emptied, then x-a indexed again');
    assert.equal(encoder.dynamicTableLength, 1);
  });

  it('returns blocks that stay intact while later blocks are encoded (across slab boundaries and huge blocks)', () => {
    const encoder = new HpackEncoder();
    const lists: string[][] = [];
    const blocks: Buffer[] = [];
    for (let i = 0; i < 3000; i++) {
      const list = ['x-unique', `value-${i}-${'z'.repeat(i % 50)}`, 'content-length', String(i)];
      if (i % 1000 === 999) list.push('x-huge', 'h'.repeat(100_000 + i));
      lists.push(list);
      blocks.push(encoder.encode(list));
    }
    const decoder = new HpackDecoder();
    for (let i = 0; i < blocks.length; i++) {
      const out: string[] = [];
      assert.equal(decoder.decode(blocks[i]!, out, 1 << 20), true);
      assert.deepEqual(out, lists[i], `block ${i}`);
    }
  });

  it('round-trips random header lists over many blocks with eviction, encoder and decoder tables in step', () => {
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const names = [':method', ':path', ':authority', 'accept', 'user-agent', 'x-custom', 'x-trace', 'cookie', 'content-type', 'etag', 'x-empty', 'authorization'];
    const randomValue = (): string => {
      const length = [0, 1, 5, 17, 40, 120, 300][random(7)]!;
      let value = '';
      for (let i = 0; i < length; i++) value += String.fromCharCode(random(3) === 0 ? 0x80 + random(128) : 0x20 + random(95));
      return value;
    };
    const valuePool = Array.from({ length: 40 }, randomValue);
    for (const huffman of [false, true]) {
      for (const tableSize of [4096, 512, 0]) {
        const encoder = new HpackEncoder({ huffman });
        const decoder = new HpackDecoder();
        for (let block = 0; block < 400; block++) {
          if (block === 200) encoder.setMaxTableSize(tableSize);
          const list: string[] = [];
          const fields = random(12);
          for (let f = 0; f < fields; f++) list.push(names[random(names.length)]!, random(4) === 0 ? randomValue() : valuePool[random(valuePool.length)]!);
          const out: string[] = [];
          assert.equal(decoder.decode(encoder.encode(list), out, 1 << 20), true);
          assert.deepEqual(out, list, `block ${block}, huffman ${huffman}, table ${tableSize}`);
          assert.equal(decoder.dynamicTableLength, encoder.dynamicTableLength);
        }
      }
    }
  });
});

describe('HpackDecoder limits and malformed input', () => {
  it('stops appending past maxListBytes but keeps the table in step (HPACK bomb)', () => {
    const big = 'b'.repeat(4000);
    // Literal with incremental indexing, new name "x-bomb", 4000-byte value; then index 62 a thousand times.
    const insert = Buffer.concat([hex('40 06'), Buffer.from('x-bomb'), hex('7f a1 1e'), Buffer.from(big)]);
    const block = Buffer.concat([insert, Buffer.alloc(1000, 0xbe)]);
    const decoder = new HpackDecoder();
    const out: string[] = [];
    assert.equal(decoder.decode(block, out, 65536), false);
    // 65536 / (6 + 4000 + 32) = 16 fields fit.
    assert.equal(out.length, 16 * 2);
    assert.equal(decoder.dynamicTableLength, 1);
    // The table is still in step: the next block can use the entry.
    const next: string[] = [];
    assert.equal(decoder.decode(hex('be'), next, 65536), true);
    assert.deepEqual(next, ['x-bomb', big]);
  });

  it('counts name + value + 32 per field against the limit', () => {
    const decoder = new HpackDecoder();
    const out: string[] = [];
    // ":method GET" = 7 + 3 + 32 = 42 bytes: two fit in 84, not in 83.
    assert.equal(decoder.decode(hex('8282'), out, 84), true);
    const short: string[] = [];
    assert.equal(decoder.decode(hex('8282'), short, 83), false);
    assert.deepEqual(short, [':method', 'GET']);
  });

  const malformed: [string, string, number?][] = [
    ['index 0', '80'],
    ['index beyond an empty dynamic table', 'be'],
    ['index far beyond the tables', 'ff 80 01'],
    ['literal name index beyond the tables', '7e 01 61'],
    ['integer above 2^31', 'ff ff ff ff ff 0f'],
    ['integer with endless continuation bytes', 'ff 80 80 80 80 80 80 80 80 01'],
    ['block ends inside an integer', 'ff'],
    ['block ends before the value', '40 01 61'],
    ['string longer than the block', '40 01 61 05 61'],
    ['Huffman value padded with zeros', '00 01 78 81 00'],
    ['Huffman value with 8 bits of padding', '00 01 78 81 ff'],
    ['Huffman value containing EOS', '00 01 78 84 ff ff ff fc'],
    ['table size update above the limit (4097)', '3f e2 1f'],
    ['table size update after a field', '82 20'],
    ['table size update above a small limit', '3f 02', 32],
  ];
  for (const [what, bytes, limit] of malformed) {
    it(`throws HpackError (HPACK_DECODE): ${what}`, () => {
      const decoder = new HpackDecoder(limit ?? 4096);
      assert.throws(
        () => decoder.decode(hex(bytes), [], 65536),
        (error: unknown) => error instanceof HpackError && error.code === 'HPACK_DECODE',
      );
    });
  }

  it('random and mutated blocks either decode within the limit or throw HpackError, nothing else', () => {
    let seed = 99;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const encoder = new HpackEncoder({ huffman: true });
    const valid = [
      encoder.encode(flat(REQUEST_3)),
      encoder.encode(flat(RESPONSE_3)),
      hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'),
    ];
    let decoded = 0;
    let refused = 0;
    for (let round = 0; round < 20_000; round++) {
      let block: Buffer;
      if (round % 2 === 0) {
        block = Buffer.alloc(random(64));
        for (let i = 0; i < block.length; i++) block[i] = random(256);
      } else {
        block = Buffer.from(valid[random(valid.length)]!);
        for (let flips = 1 + random(3); flips > 0; flips--) block[random(block.length)] = random(256);
      }
      const decoder = new HpackDecoder(256);
      const out: string[] = [];
      const limit = 64 + random(512);
      try {
        decoder.decode(block, out, limit);
        decoded++;
      } catch (error) {
        assert.ok(error instanceof HpackError, `round ${round}: ${String(error)} for ${block.toString('hex')}`);
        refused++;
      }
      let listBytes = 0;
      for (let i = 0; i < out.length; i += 2) listBytes += out[i]!.length + out[i + 1]!.length + 32;
      assert.ok(listBytes <= limit, `round ${round}: ${listBytes} bytes appended with a limit of ${limit}`);
    }
    assert.ok(decoded > 1000 && refused > 1000, `decoded ${decoded}, refused ${refused}`);
  });

  it('accepts size updates within the limit at the block start, two in a row', () => {
    const decoder = new HpackDecoder();
    assert.deepEqual(decodeAll(decoder, hex('4001 6101 62')), [['a', 'b']]);
    assert.deepEqual(decodeAll(decoder, hex('20 3f 09 82')), [[':method', 'GET']]);
    assert.equal(decoder.dynamicTableLength, 0, 'the size update to 0 emptied the table');
  });
});

/** Runs node's http2 client against a plain TCP server and returns the header blocks of its requests. */
async function captureNodeHeaderBlocks(requests: http2.OutgoingHttpHeaders[]): Promise<Buffer[]> {
  const blocks: Buffer[] = [];
  let received = Buffer.alloc(0);
  let done!: () => void;
  const allSeen = new Promise<void>((resolve) => (done = resolve));
  const server = net.createServer((socket) => {
    socket.write(hex('000000 04 00 00000000')); // empty SETTINGS
    let offset = 24; // client connection preface
    let fragments: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= offset + 9) {
        const length = received.readUIntBE(offset, 3);
        if (received.length < offset + 9 + length) break;
        const type = received[offset + 3]!;
        const flags = received[offset + 4]!;
        let payload = received.subarray(offset + 9, offset + 9 + length);
        offset += 9 + length;
        if (type === 0x1) {
          let padding = 0;
          if (flags & 0x8) {
            padding = payload[0]!;
            payload = payload.subarray(1);
          }
          if (flags & 0x20) payload = payload.subarray(5);
          payload = payload.subarray(0, payload.length - padding);
        }
        if (type === 0x1 || type === 0x9) {
          fragments.push(payload);
          if (flags & 0x4) {
            blocks.push(Buffer.concat(fragments));
            fragments = [];
            if (blocks.length === requests.length) done();
          }
        }
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  client.on('error', () => {});
  for (const headers of requests) client.request(headers).on('error', () => {});
  await allSeen;
  client.destroy();
  server.close();
  return blocks;
}

describe('HpackDecoder interop with node http2', () => {
  it("decodes node's header blocks: every printable ASCII byte and 0x80–0xff, Huffman and raw, across the dynamic table", async () => {
    let printable = '';
    for (let c = 0x20; c < 0x7f; c++) printable += String.fromCharCode(c);
    const headers: http2.OutgoingHttpHeaders = { ':method': 'GET', ':path': '/items?q=1', ':authority': 'catalog.shop:8080', 'x-printable': printable };
    // Mostly 5-bit 'a' with one rare byte: shorter in Huffman, so node's encoder Huffman-codes each of them.
    for (let c = 0x20; c < 0x7f; c++) headers[`x-a${c}`] = `aaaaaaaaaaaa${String.fromCharCode(c)}`;
    for (let c = 0x80; c <= 0xff; c++) headers[`x-h${c}`] = `aaaaaaaaaaaaaaa${String.fromCharCode(c)}`;
    headers['x-high-raw'] = Array.from({ length: 128 }, (_, i) => String.fromCharCode(0x80 + i)).join('');
    const second = { ...headers, ':path': '/other', 'x-new': 'value' };
    const blocks = await captureNodeHeaderBlocks([headers, second, headers]);
    const decoder = new HpackDecoder();
    const expectations = [headers, second, headers];
    for (let b = 0; b < blocks.length; b++) {
      const decoded = new Map(decodeAll(decoder, blocks[b]!));
      for (const [name, value] of Object.entries(expectations[b]!)) assert.equal(decoded.get(name), value, `block ${b}, ${name}`);
    }
    assert.ok(decoder.dynamicTableLength > 0, "node's encoder indexed fields, so later blocks referred to the dynamic table");
  });
});

describe('HpackEncoder.encodeInto and HpackDecoder ranges (the session encodes into its output and decodes in place)', () => {
  it('encodeInto writes the bytes encode returns, within maxEncodedLength, with and without Huffman and across table sizes', () => {
    let seed = 11;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const names = [':status', ':path', 'content-type', 'content-length', 'date', 'x-a', 'x-b', 'authorization', 'cookie', 'server', 'x-custom-header'];
    for (const huffman of [false, true]) {
      for (const tableSize of [4096, 200, 0]) {
        const a = new HpackEncoder({ huffman });
        const b = new HpackEncoder({ huffman });
        a.setMaxTableSize(tableSize);
        b.setMaxTableSize(tableSize);
        const decoder = new HpackDecoder(4096);
        for (let round = 0; round < 300; round++) {
          const list: string[] = [];
          const fields = random(8);
          for (let f = 0; f < fields; f++) list.push(names[random(names.length)]!, random(3) === 0 ? 'v'.repeat(random(300)) : `value-${random(20)}`);
          const expected = a.encode(list);
          const target = Buffer.alloc(7 + HpackEncoder.maxEncodedLength(list) + 5, 0xee);
          const end = b.encodeInto(list, target, 7);
          assert.ok(end - 7 <= HpackEncoder.maxEncodedLength(list), 'within the announced bound');
          assert.deepEqual(target.subarray(7, end), expected, `round ${round}`);
          assert.equal(target[6], 0xee, 'nothing written before the position');
          assert.ok(target.subarray(end).every((x) => x === 0xee), 'nothing written after the block');
          assert.deepEqual(decodeAll(decoder, expected), pairs(list));
        }
      }
    }
  });

  it('decodes a block in place from a range of a larger buffer, and a string running past the range end is malformed', () => {
    const encoder = new HpackEncoder();
    const head = [':status', '200', 'content-type', 'text/plain', 'x-a', 'b'];
    const block = encoder.encode(head);
    const framed = Buffer.concat([Buffer.from([0x82, 0x84, 0x86]), block, Buffer.from([0x00, 0x03, 0x61])]);
    const out: string[] = [];
    assert.equal(new HpackDecoder().decode(framed, out, 65536, 3, 3 + block.length), true);
    assert.deepEqual(out, head);
    // A literal whose string length points beyond the range (bytes after it belong to something else).
    const literalBlock = Buffer.from([0x00, 0x03, 0x61, 0x62, 0x63, 0x03, 0x78, 0x79, 0x7a]);
    const inBigger = Buffer.concat([literalBlock, Buffer.from('zzzz')]);
    assert.throws(() => new HpackDecoder().decode(inBigger, [], 65536, 0, literalBlock.length - 1), HpackError);
    const whole: string[] = [];
    assert.equal(new HpackDecoder().decode(inBigger, whole, 65536, 0, literalBlock.length), true);
    assert.deepEqual(whole, ['abc', 'xyz']);
    // An integer cut by the range end.
    assert.throws(() => new HpackDecoder().decode(Buffer.from([0xff, 0x80, 0x01]), [], 65536, 0, 2), HpackError);
  });
});

describe('HpackDecoder: repeated literal values', () => {
  it('hands out the same string for a raw literal value repeated at the same field position, and the right one whenever the bytes change', () => {
    // Literal without indexing, static name index (4-bit prefix), raw value.
    const lit = (nameIndex: number, value: string, huffman = false): Buffer => {
      if (huffman) {
        const out = Buffer.alloc(huffmanEncodedLength(value));
        huffmanEncodeInto(value, out, 0);
        return Buffer.concat([Buffer.from([nameIndex, 0x80 | out.length]), out]);
      }
      return Buffer.concat([Buffer.from([nameIndex, value.length]), Buffer.from(value, 'latin1')]);
    };
    const decoder = new HpackDecoder();
    const decode = (...fields: Buffer[]): string[] => {
      const out: string[] = [];
      assert.equal(decoder.decode(Buffer.concat(fields), out, 65536), true);
      return out;
    };
    // content-length is static index 28 (4-bit prefix 15 + 13), date 33 (15 + 18).
    const cl = (v: string, h = false): Buffer => Buffer.concat([Buffer.from([0x0f, 13]), lit(0, v, h).subarray(1)]);
    const date = (v: string): Buffer => Buffer.concat([Buffer.from([0x0f, 18]), lit(0, v).subarray(1)]);
    const a = decode(cl('1024'), date('Wed, 25 Nov 2026 15:41:09 GMT'));
    const b = decode(cl('1024'), date('Wed, 25 Nov 2026 15:41:09 GMT'));
    assert.deepEqual(a, ['content-length', '1024', 'date', 'Wed, 25 Nov 2026 15:41:09 GMT']);
    assert.deepEqual(b, a);
    const c = decode(cl('1025'), date('Wed, 25 Nov 2026 15:41:10 GMT'));
    assert.deepEqual(c, ['content-length', '1025', 'date', 'Wed, 25 Nov 2026 15:41:10 GMT']);
    assert.deepEqual(decode(date('Wed, 25 Nov 2026 15:41:10 GMT'), cl('1025')), ['date', 'Wed, 25 Nov 2026 15:41:10 GMT', 'content-length', '1025']);
    assert.deepEqual(decode(cl('')), ['content-length', '']);
    assert.deepEqual(decode(cl('7')), ['content-length', '7']);
    assert.deepEqual(decode(cl('7', true)), ['content-length', '7'], 'Huffman after raw');
    assert.deepEqual(decode(cl('8')), ['content-length', '8']);
    assert.deepEqual(decode(cl('\xe9\xff')), ['content-length', '\xe9\xff'], 'bytes stay bytes');
    assert.deepEqual(decode(cl('\xe9\xfe')), ['content-length', '\xe9\xfe']);
    const long = 'x'.repeat(200);
    assert.deepEqual(decode(lit(0x0f, '').subarray(0, 1), Buffer.from([13, 0x7f, 200 - 127]), Buffer.from(long)), ['content-length', long], 'a length past the prefix');
    assert.deepEqual(decode(lit(0x0f, '').subarray(0, 1), Buffer.from([13, 0x7f, 200 - 127]), Buffer.from('y'.repeat(200))), ['content-length', 'y'.repeat(200)]);
    // A value whose bytes run past the block is still malformed, whatever was remembered.
    decode(cl('abcd'));
    assert.throws(() => decoder.decode(cl('abcd').subarray(0, 5), [], 65536), HpackError);
  });
});

describe('HpackEncoder: raw strings of every length keep their bytes', () => {
  it('round-trips latin1 values (0x80–0xff included) short and long, as names and values', () => {
    const encoder = new HpackEncoder();
    const decoder = new HpackDecoder();
    for (let n = 0; n <= 40; n++) {
      let value = '';
      for (let i = 0; i < n; i++) value += String.fromCharCode(0x20 + ((i * 37 + n) % 0xe0));
      const list = [`x-\xe9${n}`, value, 'content-length', value];
      assert.deepEqual(decodeAll(decoder, encoder.encode(list)), pairs(list), `length ${n}`);
    }
  });
});
