// CPU cost of HPACK (src/proxy/protocols/h2/hpack.ts, huffman.ts) per header block, for the heads a
// proxy sends between peers: a repeated request head (steady state: every field indexed), the same head
// with a per-request unique field (literals), and a response head; encoding with raw and with Huffman
// string literals, decoding raw and Huffman blocks. Baselines in the same run: Huffman decoding by a
// bit-at-a-time walk of the code tree (the simple alternative to the byte state table), and
// serialising the same head as HTTP/1.1 text (what the HTTP/1 hop pays). Times are CPU time of this
// process (process.cpuUsage). Prints a table and one JSON line.
//
// Usage: npm run bench -- micro/hpack [--ms 1000]
import { parseArgs } from 'node:util';
import { HpackDecoder, HpackEncoder } from '../../src/proxy/protocols/h2/hpack.ts';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, huffmanDecode, huffmanEncodedLength, huffmanEncodeInto, latin1Slice } from '../../src/proxy/protocols/h2/huffman.ts';
import { printJsonLine, printTable } from '../lib/report.ts';

const { values: args } = parseArgs({ options: { ms: { type: 'string' } }, strict: false });
const budgetMs = Number(args.ms ?? 1000);

const requestHead = [
  ':method', 'GET',
  ':scheme', 'https',
  ':authority', 'catalog.shop.svc:8080',
  ':path', '/api/items?id=42',
  'user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'accept', 'application/json',
  'accept-encoding', 'gzip, deflate, br',
  'x-forwarded-for', '10.0.3.17',
];
const responseHead = [':status', '200', 'content-type', 'application/json', 'content-length', '1024', 'server', 'catalog/2.4.1', 'date', 'Wed, 25 Nov 2026 09:00:00 GMT'];
const requestIds = Array.from({ length: 1024 }, (_, i) => `4bf92f3577b34da6a3ce929d0e0e${(4736 + i).toString(16)}`);

const freshBytes = Buffer.from(requestHead.join(''), 'latin1');
const freshBounds: number[] = [];
{
  let offset = 0;
  for (const part of requestHead) freshBounds.push(offset, (offset += part.length));
}
/** The request head as new strings, each sliced from a buffer (what a parser hands over). */
function makeFreshHead(): string[] {
  const out = new Array<string>(requestHead.length);
  for (let i = 0; i < out.length; i++) out[i] = latin1Slice(freshBytes, freshBounds[2 * i]!, freshBounds[2 * i + 1]!);
  return out;
}

function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

interface Result {
  name: string;
  nsPerBlock: number;
  blockBytes: number;
}

function measure(name: string, blockBytes: number, fn: (i: number) => number): Result {
  for (let i = 0; i < 20000; i++) fn(i);
  let n = 0;
  let sink = 0;
  const t0 = cpuNs();
  const until = t0 + budgetMs * 1e6;
  let now = t0;
  while (now < until) {
    for (let i = 0; i < 10000; i++) sink += fn(i);
    n += 10000;
    now = cpuNs();
  }
  if (sink === -1) console.log('');
  return { name, nsPerBlock: Number(((now - t0) / n).toFixed(1)), blockBytes };
}

// Bit-at-a-time tree walk: the baseline for Huffman decoding.
const treeChildren = new Int32Array(512 * 2).fill(-1);
{
  let nodes = 1;
  for (let symbol = 0; symbol <= 256; symbol++) {
    let node = 0;
    const code = HUFFMAN_CODES[symbol]!;
    const length = HUFFMAN_LENGTHS[symbol]!;
    for (let bit = length - 1; bit > 0; bit--) {
      const slot = node * 2 + (Math.floor(code / 2 ** bit) & 1);
      if (treeChildren[slot] === -1) treeChildren[slot] = nodes++;
      node = treeChildren[slot]!;
    }
    treeChildren[node * 2 + (code & 1)] = 1000 + symbol;
  }
}
const walkScratch = Buffer.allocUnsafe(4096);
function bitWalkDecode(input: Buffer): string {
  let node = 0;
  let written = 0;
  for (let i = 0; i < input.length; i++) {
    const byte = input[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      const next = treeChildren[node * 2 + ((byte >> bit) & 1)]!;
      if (next >= 1000) {
        walkScratch[written++] = next - 1000;
        node = 0;
      } else node = next;
    }
  }
  return walkScratch.toString('latin1', 0, written);
}

function http1Text(head: string[]): number {
  let text = `${head[1]} ${head[7]} HTTP/1.1\r\nhost: ${head[5]}\r\n`;
  for (let i = 8; i < head.length; i += 2) text += `${head[i]}: ${head[i + 1]}\r\n`;
  return Buffer.from(`${text}\r\n`, 'latin1').length;
}

const results: Result[] = [];
for (const huffman of [false, true]) {
  const label = huffman ? 'Huffman' : 'raw';
  const encoder = new HpackEncoder({ huffman });
  encoder.encode(requestHead);
  results.push(measure(`encode request head, repeated (all indexed), ${label}`, encoder.encode(requestHead).length, () => encoder.encode(requestHead).length));
  // As the proxy sees it: names and values are fresh strings per request (sliced from a read buffer
  // field by field, as the HTTP/1 parser does), so every Map lookup would hash them anew.
  const freshHead = makeFreshHead;
  results.push(measure(`encode request head, repeated, fresh strings each time, ${label}`, encoder.encode(freshHead()).length, () => encoder.encode(freshHead()).length));
  const unique = [...requestHead, 'x-request-id', ''];
  const sample = encoder.encode([...requestHead, 'x-request-id', requestIds[0]!]).length;
  results.push(
    measure(`encode request head + unique x-request-id, ${label}`, sample, (i) => {
      unique[unique.length - 1] = requestIds[i & 1023]!;
      return encoder.encode(unique).length;
    }),
  );
  const responseEncoder = new HpackEncoder({ huffman });
  results.push(measure(`encode response head (date, length literal), ${label}`, responseEncoder.encode(responseHead).length, () => responseEncoder.encode(responseHead).length));
}

for (const huffman of [false, true]) {
  const label = huffman ? 'Huffman' : 'raw';
  // A block of literals without indexing decodes the same every time: the cost of strings.
  const encoder = new HpackEncoder({ huffman, maxTableSize: 0 });
  encoder.encode([]); // consumes the size update
  const literalBlock = encoder.encode(requestHead);
  const decoder = new HpackDecoder();
  const out: string[] = [];
  results.push(
    measure(`decode request head, all literals, ${label}`, literalBlock.length, () => {
      out.length = 0;
      decoder.decode(literalBlock, out, 65536);
      return out.length;
    }),
  );
}
{
  const encoder = new HpackEncoder();
  const decoder = new HpackDecoder();
  decoder.decode(encoder.encode(requestHead), [], 65536);
  const indexedBlock = encoder.encode(requestHead);
  const out: string[] = [];
  results.push(
    measure('decode request head, repeated (all indexed)', indexedBlock.length, () => {
      out.length = 0;
      decoder.decode(indexedBlock, out, 65536);
      return out.length;
    }),
  );
}
{
  const userAgent = requestHead[9]!;
  const encoded = Buffer.alloc(huffmanEncodedLength(userAgent));
  huffmanEncodeInto(userAgent, encoded, 0);
  results.push(measure(`Huffman decode user-agent (${encoded.length} B), byte state table`, encoded.length, () => huffmanDecode(encoded, 0, encoded.length)!.length));
  results.push(measure(`baseline: Huffman decode user-agent, bit-at-a-time tree walk`, encoded.length, () => bitWalkDecode(encoded).length));
  const raw = Buffer.from(userAgent, 'latin1');
  results.push(measure(`baseline: raw user-agent to string (${raw.length} B)`, raw.length, () => raw.toString('latin1').length));
}
results.push(measure('baseline: same request head as HTTP/1.1 text (build + Buffer.from)', http1Text(requestHead), () => http1Text(requestHead)));
results.push(measure('baseline: making the fresh strings alone (one latin1 slice per field)', freshBytes.length, () => makeFreshHead().length));

printTable(
  'HPACK cost per header block (CPU ns of one core, in process)',
  ['case', 'ns/block', 'block bytes'],
  results.map((r) => [r.name, r.nsPerBlock, r.blockBytes]),
);
const byName = (prefix: string): number => results.find((r) => r.name.startsWith(prefix))!.nsPerBlock;
printJsonLine({
  bench: 'micro/hpack',
  node: process.version,
  results,
  ratios: {
    huffmanOverRawEncodeUnique: Number((byName('encode request head + unique x-request-id, Huffman') / byName('encode request head + unique x-request-id, raw')).toFixed(2)),
    huffmanOverRawDecodeLiterals: Number((byName('decode request head, all literals, Huffman') / byName('decode request head, all literals, raw')).toFixed(2)),
    byteTableOverBitWalk: Number((byName('Huffman decode user-agent') / byName('baseline: Huffman decode user-agent, bit-at-a-time')).toFixed(2)),
  },
});
