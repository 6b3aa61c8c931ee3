// A TCP relay for tests that must hold a connection "still connecting": each accepted connection
// waits (paused) until the test opens it, then is piped to 127.0.0.1:targetPort.
import net from 'node:net';

export interface HeldRelay {
  readonly port: number;
  /** One opener per connection waiting at the relay, in arrival order; call it to connect it through. */
  readonly waiting: Array<() => void>;
  close(): void;
}

export async function startHeldRelay(targetPort: () => number): Promise<HeldRelay> {
  const waiting: Array<() => void> = [];
  const relay = net.createServer((down) => {
    down.pause();
    down.on('error', () => {});
    waiting.push(() => {
      const up = net.connect(targetPort(), '127.0.0.1', () => {
        down.pipe(up);
        up.pipe(down);
        down.resume();
      });
      up.on('error', () => down.destroy());
      down.on('close', () => up.destroy());
    });
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
  return { port: (relay.address() as net.AddressInfo).port, waiting, close: () => relay.close() };
}
