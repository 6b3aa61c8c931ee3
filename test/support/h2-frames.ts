// Hand-built HTTP/2 frames for hardening tests: a raw client that writes arbitrary frames on a socket
// and parses what comes back (type, flags, stream, payload), plus a minimal HPACK encoder (literal
// fields without indexing, no Huffman) — enough to send floods and oversized header blocks.
import net from 'node:net';

export const FrameType = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const Flag = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const;
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

function hpackInt(value: number, prefixBits: number, firstByte: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByte | value]);
  const out = [firstByte | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return Buffer.from(out);
}

/** Literal header field without indexing, new name (RFC 7541 §6.2.2), no Huffman. */
export function literal(name: string, value: string | Buffer): Buffer {
  const n = Buffer.from(name);
  const v = typeof value === 'string' ? Buffer.from(value) : value;
  return Buffer.concat([Buffer.from([0x00]), hpackInt(n.length, 7, 0), n, hpackInt(v.length, 7, 0), v]);
}

/** A request header block: GET / with :authority. */
export function requestBlock(authority: string, method = 'GET', path = '/', extra: Buffer[] = []): Buffer {
  return Buffer.concat([literal(':method', method), literal(':scheme', 'http'), literal(':path', path), literal(':authority', authority), ...extra]);
}

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** A raw HTTP/2 client connection that records every frame received. */
export class RawH2 {
  readonly socket: net.Socket;
  readonly frames: Frame[] = [];
  closed = false;
  #buf = Buffer.alloc(0);
  readonly ready: Promise<void>;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
    });
    this.ready = new Promise((resolve) => this.socket.once('connect', () => resolve()));
    this.socket.write(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0)]));
    this.socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      while (this.#buf.length >= 9) {
        const len = this.#buf.readUIntBE(0, 3);
        if (this.#buf.length < 9 + len) break;
        const f = { type: this.#buf[3]!, flags: this.#buf[4]!, stream: this.#buf.readUInt32BE(5) & 0x7fffffff, payload: this.#buf.subarray(9, 9 + len) };
        this.#buf = this.#buf.subarray(9 + len);
        this.frames.push(f);
        if (f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0) this.write(frame(FrameType.SETTINGS, Flag.ACK, 0));
      }
    });
  }

  write(b: Buffer): boolean {
    if (this.closed) return false;
    return this.socket.write(b);
  }

  goaway(): Frame | undefined {
    return this.frames.find((f) => f.type === FrameType.GOAWAY);
  }

  /** Resolves when the server closed the connection (or after `ms`, returning false). */
  waitClosed(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.socket.once('close', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}
