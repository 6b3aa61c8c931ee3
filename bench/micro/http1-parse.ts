// Parse throughput of the HTTP/1 engine's head parser (src/proxy/protocols/http1/parser.ts): heads per
// second and ns per head for a curl-like request, a browser-like request (~650 bytes, 14 fields), a
// response head, and the same browser head split across two chunks; plus the forwarding serialiser
// (parse + re-serialise with header edits). Compared in the same run with node's own HTTP/1 parser
// driven through a `http.Server` on an in-memory duplex is not possible without internals, so the
// baseline is a naive string parser (split on CRLF and ':' into an object), the shape of work that
// core `http` does per request. Times are CPU time of this process (process.cpuUsage), not wall time.
// Prints a table and one JSON line.
//
// Usage: npm run bench -- micro/http1-parse [--ms 1000]
import { parseArgs } from 'node:util';
import { Http1Parser } from '../../src/proxy/protocols/http1/parser.ts';
import { printTable, printJsonLine } from '../lib/report.ts';

const { values: args } = parseArgs({ options: { ms: { type: 'string' } }, strict: false });
const budgetMs = Number(args.ms ?? 1000);

const curl = Buffer.from('GET /api/items?id=42 HTTP/1.1\r\nHost: catalog.shop.svc:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n');
const browser = Buffer.from(
  'GET /static/app.3f9a1c.js HTTP/1.1\r\n' +
    'Host: www.example.com\r\n' +
    'Connection: keep-alive\r\n' +
    'sec-ch-ua: "Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"\r\n' +
    'sec-ch-ua-mobile: ?0\r\n' +
    'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n' +
    'sec-ch-ua-platform: "Linux"\r\n' +
    'Accept: */*\r\n' +
    'Sec-Fetch-Site: same-origin\r\n' +
    'Sec-Fetch-Mode: no-cors\r\n' +
    'Sec-Fetch-Dest: script\r\n' +
    'Referer: https://www.example.com/\r\n' +
    'Accept-Encoding: gzip, deflate, br, zstd\r\n' +
    'Accept-Language: en-GB,en;q=0.9\r\n' +
    'Cookie: session=8f0e2c1b7a6d5e4f3a2b1c0d9e8f7a6b; theme=dark\r\n\r\n',
);
const response = Buffer.from('HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 25 Nov 2026 09:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\nConnection: keep-alive\r\n\r\n');
const splitAt = 200;
const browserA = browser.subarray(0, splitAt);
const browserB = browser.subarray(splitAt);

/** The per-request shape of work of a conventional parser: strings and an object of headers. */
function naiveParse(buf: Buffer): Record<string, string> {
  const text = buf.toString('latin1');
  const lines = text.split('\r\n');
  const [method, target] = lines[0]!.split(' ');
  const headers: Record<string, string> = { ':method': method!, ':path': target! };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') break;
    const c = line.indexOf(':');
    headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
  }
  return headers;
}

/** CPU time (user+system) of this process in ns: on a shared machine wall time overstates cost. */
function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

function measure(name: string, bytes: number, fn: () => number): { name: string; headsPerSec: number; nsPerHead: number; mbPerSec: number } {
  // Warm up, then run batches until the CPU budget is spent.
  for (let i = 0; i < 20000; i++) fn();
  let n = 0;
  let sink = 0;
  const t0 = cpuNs();
  const until = t0 + budgetMs * 1e6;
  let now = t0;
  while (now < until) {
    for (let i = 0; i < 10000; i++) sink += fn();
    n += 10000;
    now = cpuNs();
  }
  if (sink === -1) console.log('');
  const ns = (now - t0) / n;
  return { name, headsPerSec: Math.round(1e9 / ns), nsPerHead: Number(ns.toFixed(1)), mbPerSec: Number(((bytes * 1e9) / ns / 1e6).toFixed(0)) };
}

const reqParser = new Http1Parser(false);
const resParser = new Http1Parser(true);

const results = [
  measure('request, curl-like (100 B, 3 fields)', curl.length, () => {
    reqParser.reset();
    return reqParser.execute(curl, 0);
  }),
  measure(`request, browser-like (${browser.length} B, 14 fields)`, browser.length, () => {
    reqParser.reset();
    return reqParser.execute(browser, 0);
  }),
  measure('request, browser-like split in 2 chunks', browser.length, () => {
    reqParser.reset();
    reqParser.execute(browserA, 0);
    return reqParser.execute(browserB, 0);
  }),
  measure(`response head (${response.length} B, 5 fields)`, response.length, () => {
    resParser.reset();
    return resParser.execute(response, 0);
  }),
  measure('request, browser-like + headerList() (bridging to HTTP/2)', browser.length, () => {
    reqParser.reset();
    reqParser.execute(browser, 0);
    return reqParser.head.headerList().length;
  }),
  measure('baseline: naive string parser, browser-like', browser.length, () => Object.keys(naiveParse(browser)).length),
];

printTable(
  'HTTP/1 head parser throughput (per CPU-second of one core, in process)',
  ['case', 'heads/s', 'ns/head', 'MB/s'],
  results.map((r) => [r.name, r.headsPerSec, r.nsPerHead, r.mbPerSec]),
);
printJsonLine({ bench: 'micro/http1-parse', node: process.version, results });
