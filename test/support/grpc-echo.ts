// A gRPC echo service without .proto files (raw Buffer messages), for proxy transparency tests:
// Unary (echo + metadata back as trailers), ServerStream (N numbered messages), ClientStream
// (concatenate), Bidi (echo each message), Fail (a chosen status), Slow (answers after ?ms).
import * as grpc from '@grpc/grpc-js';

const id = (b: Buffer) => b;
function method(name: string, requestStream: boolean, responseStream: boolean) {
  return { path: `/weft.test.Echo/${name}`, requestStream, responseStream, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id, originalName: name };
}
export const echoService = {
  Unary: method('Unary', false, false),
  ServerStream: method('ServerStream', false, true),
  ClientStream: method('ClientStream', true, false),
  Bidi: method('Bidi', true, true),
  Fail: method('Fail', false, false),
  Slow: method('Slow', false, false),
} as unknown as grpc.ServiceDefinition;

export const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo');
export type EchoClientInstance = InstanceType<typeof EchoClient> & Record<string, (...args: any[]) => any>;

export async function startGrpcEcho(): Promise<{ port: number; close(): Promise<void> }> {
  const server = new grpc.Server();
  server.addService(echoService, {
    Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const md = new grpc.Metadata();
      md.set('x-echo-md', String(call.metadata.get('x-md')[0] ?? ''));
      cb(null, call.request, md);
    },
    ServerStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const n = Number(call.request.toString());
      for (let i = 0; i < n; i++) call.write(Buffer.from(`msg-${i}`));
      call.end();
    },
    ClientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const parts: string[] = [];
      call.on('data', (b: Buffer) => parts.push(b.toString()));
      call.on('end', () => cb(null, Buffer.from(parts.join('|'))));
    },
    Bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (b: Buffer) => call.write(Buffer.from(`echo:${b.toString()}`)));
      call.on('end', () => call.end());
    },
    Fail: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      cb({ code: Number(call.request.toString()), details: 'chosen failure' } as grpc.ServiceError);
    },
    Slow: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const t = setTimeout(() => cb(null, Buffer.from('late')), Number(call.request.toString()));
      call.on('cancelled', () => clearTimeout(t));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { port, close: () => new Promise((r) => server.tryShutdown(() => r())) };
}
