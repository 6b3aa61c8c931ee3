// A child-process HTTP/1.1 client for proxy tests: opens N keep-alive connections on raw sockets and
// sends M requests on each, one at a time, the next one as soon as the previous response is complete
// (what wrk does, and what exposes a proxy that ends a response late or frames it wrongly). Every
// third request is a POST with a body. Each response is checked byte for byte against what
// `expectedBody` says the app answers; the result is one JSON line on stdout.
//   node --import tsx test/support/http1-load-client.ts <port> <host> <connections> <requestsPerConnection>
import net from 'node:net';

/** What the test app answers: method, path, the request body, then 1 KiB of filler. */
export function expectedBody(method: string, path: string, requestBody: string): string {
  return `${method} ${path} ${requestBody}|${'x'.repeat(1024)}`;
}

/** The request body of request `i` on connection `c` (empty for GETs). */
export function requestBodyOf(c: number, i: number): string {
  return i % 3 === 2 ? `body-${c}-${i}-`.repeat(200) : '';
}

export interface LoadResult {
  ok: number;
  /** Responses with a wrong status, framing or body, and connection errors (first few described). */
  bad: number;
  problems: string[];
}

function runConnection(port: number, host: string, c: number, count: number, result: LoadResult): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let buffered: Buffer = Buffer.alloc(0);
    let i = 0;
    let finished = false;
    const fail = (problem: string) => {
      result.bad++;
      if (result.problems.length < 5) result.problems.push(`connection ${c}, request ${i}: ${problem}`);
      finished = true;
      socket.destroy();
      resolve();
    };
    const send = () => {
      const body = requestBodyOf(c, i);
      const method = body === '' ? 'GET' : 'POST';
      const head = `${method} /${c}/${i} HTTP/1.1\r\nHost: ${host}\r\n${body === '' ? '' : `Content-Length: ${Buffer.byteLength(body)}\r\n`}\r\n`;
      socket.write(head + body);
    };
    socket.on('connect', send);
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.toString('latin1', 0, end);
        if (!head.startsWith('HTTP/1.1 ')) return fail(`bytes where a response head should start: ${JSON.stringify(head.slice(0, 40))}`);
        const status = Number(head.slice(9, 12));
        const length = /\r\ncontent-length: *(\d+)/i.exec(head);
        if (length === null) return fail(`no content-length in ${JSON.stringify(head)}`);
        const total = end + 4 + Number(length[1]);
        if (buffered.length < total) return;
        const body = buffered.toString('utf8', end + 4, total);
        buffered = buffered.subarray(total);
        const requestBody = requestBodyOf(c, i);
        const want = expectedBody(requestBody === '' ? 'GET' : 'POST', `/${c}/${i}`, requestBody);
        if (status !== 200) return fail(`status ${status}: ${body.slice(0, 200)}`);
        if (body !== want) return fail(`wrong body ${JSON.stringify(body.slice(0, 60))}…`);
        result.ok++;
        i++;
        if (i === count) {
          finished = true;
          socket.end();
          resolve();
          return;
        }
        send();
      }
    });
    socket.on('error', (e) => {
      if (!finished) fail(`socket error ${e.message}`);
    });
    socket.on('close', () => {
      if (!finished) fail('connection closed by the proxy');
    });
  });
}

async function main(): Promise<void> {
  const [port, host, connections, perConnection] = process.argv.slice(2);
  const result: LoadResult = { ok: 0, bad: 0, problems: [] };
  await Promise.all(Array.from({ length: Number(connections) }, (_, c) => runConnection(Number(port), host!, c, Number(perConnection), result)));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\/test\//, '/test/'))) void main();
