// Unit tests of the HTTP/2 frame helpers: header layout (RFC 9113 §4.1) and the control frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FLAG_ACK,
  FRAME_GOAWAY,
  FRAME_HEADERS,
  FRAME_PING,
  FRAME_RST_STREAM,
  FRAME_SETTINGS,
  FRAME_WINDOW_UPDATE,
  SETTINGS_ACK_FRAME,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_CONCURRENT_STREAMS,
  frameHeader,
  goawayFrame,
  pingFrame,
  readFrameLength,
  readStreamId,
  rstStreamFrame,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from './frames.ts';

test('a frame header carries a 24-bit length, type, flags and a 31-bit stream id', () => {
  const b = frameHeader(0xabcdef, FRAME_HEADERS, 0x25, 0x7ffffffe);
  assert.deepEqual([...b], [0xab, 0xcd, 0xef, 0x01, 0x25, 0x7f, 0xff, 0xff, 0xfe]);
  assert.equal(readFrameLength(b, 0), 0xabcdef);
  assert.equal(readStreamId(b, 0), 0x7ffffffe);
  const scratch = Buffer.alloc(20, 0xff);
  writeFrameHeader(scratch, 5, 3, 0, 0, 0xffffffff);
  assert.equal(readStreamId(scratch, 5), 0x7fffffff, 'the reserved bit is never set');
  assert.equal(readFrameLength(scratch, 5), 3);
});

test('SETTINGS, its ack, WINDOW_UPDATE, RST_STREAM, GOAWAY and PING are laid out per RFC 9113 §6', () => {
  const s = settingsFrame([SETTINGS_MAX_CONCURRENT_STREAMS, 100, SETTINGS_INITIAL_WINDOW_SIZE, 0x7fffffff]);
  assert.equal(readFrameLength(s, 0), 12);
  assert.equal(s[3], FRAME_SETTINGS);
  assert.equal(s.readUInt16BE(9), SETTINGS_MAX_CONCURRENT_STREAMS);
  assert.equal(s.readUInt32BE(11), 100);
  assert.equal(s.readUInt16BE(15), SETTINGS_INITIAL_WINDOW_SIZE);
  assert.equal(s.readUInt32BE(17), 0x7fffffff);
  assert.deepEqual([...SETTINGS_ACK_FRAME], [0, 0, 0, FRAME_SETTINGS, FLAG_ACK, 0, 0, 0, 0]);

  const w = windowUpdateFrame(3, 65536);
  assert.equal(w[3], FRAME_WINDOW_UPDATE);
  assert.equal(readStreamId(w, 0), 3);
  assert.equal(w.readUInt32BE(9), 65536);

  const r = rstStreamFrame(5, 8);
  assert.equal(r[3], FRAME_RST_STREAM);
  assert.equal(readFrameLength(r, 0), 4);
  assert.equal(r.readUInt32BE(9), 8);

  const g = goawayFrame(7, 0xb, 'calm');
  assert.equal(g[3], FRAME_GOAWAY);
  assert.equal(readFrameLength(g, 0), 12);
  assert.equal(readStreamId(g, 0), 0);
  assert.equal(g.readUInt32BE(9), 7);
  assert.equal(g.readUInt32BE(13), 0xb);
  assert.equal(g.subarray(17).toString(), 'calm');

  const payload = Buffer.from('xx12345678');
  const p = pingFrame(payload, 2, true);
  assert.equal(p[3], FRAME_PING);
  assert.equal(p[4], FLAG_ACK);
  assert.equal(p.subarray(9).toString(), '12345678');
});
