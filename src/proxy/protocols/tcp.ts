// Opaque TCP: splice two sockets both ways with half-close (FIN) propagated and resets turned into
// resets, plus an idle timeout checked on the shared coarse timer (no per-connection setTimeout churn).
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { sharedTimer, type Deadline } from '../../core/coarse-timer.ts';

/**
 * Pipes `a` ⇄ `b`. When one side ends, the other side's write half is ended; when both halves are
 * done or either errors, both are destroyed. `onClose` runs once. Idle = no bytes either way.
 */
export function splice(a: Duplex, b: Duplex, options: { idleTimeoutMs: number; onClose?: (bytesAtoB: number, bytesBtoA: number) => void }): void {
  let aToB = 0;
  let bToA = 0;
  let closed = false;
  let lastActivity = performance.now();
  let idle: Deadline | undefined;
  const armIdle = () => {
    idle = sharedTimer.deadline(options.idleTimeoutMs, () => {
      if (closed) return;
      const quiet = performance.now() - lastActivity;
      if (quiet >= options.idleTimeoutMs) finish(true);
      else armIdle();
    });
  };
  armIdle();
  const finish = (reset: boolean) => {
    if (closed) return;
    closed = true;
    idle?.cancel();
    if (reset) {
      resetOrDestroy(a);
      resetOrDestroy(b);
    } else {
      a.destroy();
      b.destroy();
    }
    options.onClose?.(aToB, bToA);
  };
  let aEnded = false;
  let bEnded = false;
  a.on('data', (chunk: Buffer) => {
    aToB += chunk.length;
    lastActivity = performance.now();
    if (!b.write(chunk)) a.pause();
  });
  b.on('data', (chunk: Buffer) => {
    bToA += chunk.length;
    lastActivity = performance.now();
    if (!a.write(chunk)) b.pause();
  });
  a.on('drain', () => b.resume());
  b.on('drain', () => a.resume());
  a.on('end', () => {
    aEnded = true;
    b.end();
    if (bEnded) finishWhenFlushed();
  });
  b.on('end', () => {
    bEnded = true;
    a.end();
    if (aEnded) finishWhenFlushed();
  });
  const finishWhenFlushed = () => setImmediate(() => finish(false));
  a.on('error', () => finish(true));
  b.on('error', () => finish(true));
  a.on('close', () => {
    if (!aEnded) finish(true);
    else if (bEnded) finish(false);
  });
  b.on('close', () => {
    if (!bEnded) finish(true);
    else if (aEnded) finish(false);
  });
  // Either side may have been paused explicitly (detection, tunnel preface): a 'data' listener alone
  // does not restart an explicitly paused stream.
  a.resume();
  b.resume();
}

/** Sends a TCP RST where the stream is a plain socket (so the peer sees a reset, not a clean close). */
function resetOrDestroy(s: Duplex): void {
  const sock = s as net.Socket;
  try {
    if (typeof sock.resetAndDestroy === 'function' && !('encrypted' in sock) && (sock as { _handle?: unknown })._handle) return void sock.resetAndDestroy();
  } catch {
    // not a TCP handle (TLS, JS stream): a plain destroy below
  }
  s.destroy();
}
