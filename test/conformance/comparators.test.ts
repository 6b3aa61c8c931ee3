// Tests for the conformance comparators with hand-made responses: each upstream rule passes when it
// should and fails, with a precise difference, when it should.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HttpClientResponse, GrpcClientResponse } from './clients.ts';
import type { CaseExpectation } from './corpus.ts';
import {
  compareGatewayHttp,
  compareGrpc,
  compareMeshEcho,
  compareWebSocket,
  compareWeights,
  compareMirrorPercentage,
  compareMirrored,
  compareRedirect,
  statusAccepted,
  backendFromPod,
} from './comparators.ts';
import type { EchoBasicBody } from '../support/echo-basic.ts';
import { parseEchoAdvanced } from '../support/echo-advanced.ts';

const URL0 = 'http://127.0.0.1:8080/';

function echoBody(over: Partial<EchoBasicBody> = {}): EchoBasicBody {
  return {
    path: '/',
    host: '127.0.0.1:8080',
    method: 'GET',
    proto: 'HTTP/1.1',
    headers: {},
    httpPort: '3000',
    namespace: 'gateway-conformance-infra',
    ingress: '',
    service: '',
    pod: 'infra-backend-v1-abcdefghij-klmno',
    ...over,
  };
}

function reply(status: number, echo: EchoBasicBody | undefined, headers: Array<[string, string]> = []): HttpClientResponse {
  return { statusCode: status, headers, body: echo ? JSON.stringify(echo) : '', echo, finalPath: echo?.path ?? '/' };
}

function expectation(over: Partial<CaseExpectation> = {}): CaseExpectation {
  return {
    statusCode: 200,
    statusCodes: [200],
    backend: 'infra-backend-v1',
    namespace: 'gateway-conformance-infra',
    backendRequest: { method: 'GET', path: '/', host: null, headers: null, absentHeaders: [] },
    response: {},
    ...over,
  };
}

const fails = (v: { pass: boolean; differences: string[] }, pattern: RegExp) => {
  assert.equal(v.pass, false, 'expected a failure');
  assert.ok(
    v.differences.some((d) => pattern.test(d)),
    `no difference matches ${pattern}: ${JSON.stringify(v.differences)}`,
  );
};

test('gateway-http: status must be one of statusCodes; 408 and 504 are interchangeable', () => {
  assert.equal(compareGatewayHttp(expectation(), reply(200, echoBody()), URL0).pass, true);
  fails(compareGatewayHttp(expectation(), reply(404, undefined), URL0), /status: expected one of \[200\], got 404/);
  assert.equal(statusAccepted([504], 408), true);
  assert.equal(statusAccepted([408], 504), true);
  assert.equal(statusAccepted([200], 504), false);
  assert.equal(statusAccepted([500], 408), false);
  const timeout = expectation({ statusCode: 504, statusCodes: [504] });
  assert.equal(compareGatewayHttp(timeout, reply(408, undefined), URL0).pass, true);
  fails(compareGatewayHttp(timeout, reply(200, echoBody()), URL0), /got 200/);
  assert.equal(compareGatewayHttp(expectation({ statusCodes: [500, 503] }), reply(503, undefined), URL0).pass, true, 'non-2xx: nothing more checked');
});

test('gateway-http: backend host, path (query included), method and namespace are compared exactly', () => {
  const e = expectation({ backendRequest: { method: 'POST', path: '/p?x=1', host: 'example.org', headers: null, absentHeaders: [] } });
  assert.equal(compareGatewayHttp(e, reply(200, echoBody({ method: 'POST', path: '/p?x=1', host: 'example.org' })), URL0).pass, true);
  fails(compareGatewayHttp(e, reply(200, echoBody({ method: 'POST', path: '/p?x=1', host: 'other.org' })), URL0), /host: expected example.org/);
  fails(compareGatewayHttp(e, reply(200, echoBody({ method: 'POST', path: '/p', host: 'example.org' })), URL0), /path: expected \/p\?x=1/);
  fails(compareGatewayHttp(e, reply(200, echoBody({ method: 'GET', path: '/p?x=1', host: 'example.org' })), URL0), /method: expected POST/);
  const anyHost = expectation();
  assert.equal(compareGatewayHttp(anyHost, reply(200, echoBody({ host: 'whatever' })), URL0).pass, true, 'host null = not checked');
  fails(compareGatewayHttp(expectation(), reply(200, echoBody({ namespace: 'other' })), URL0), /namespace: expected "gateway-conformance-infra"/);
  fails(compareGatewayHttp(expectation({ namespace: '' }), reply(200, echoBody()), URL0), /namespace: expected ""/);
  fails(compareGatewayHttp(expectation(), reply(200, undefined), URL0), /path: expected \/, got ""/);
});

test('gateway-http: request headers are case-insensitive, multi-values comma-joined, absent headers refused', () => {
  const e = expectation({ backendRequest: { method: 'GET', path: '/', host: null, headers: { 'x-header-add': 'a,b', Version: 'one' }, absentHeaders: ['X-Remove'] } });
  assert.equal(compareGatewayHttp(e, reply(200, echoBody({ headers: { 'X-Header-Add': ['a', 'b'], Version: ['one'] } })), URL0).pass, true);
  fails(compareGatewayHttp(e, reply(200, echoBody({ headers: { 'X-Header-Add': ['b', 'a'], Version: ['one'] } })), URL0), /x-header-add: expected "a,b", got "b,a"/);
  fails(compareGatewayHttp(e, reply(200, echoBody({ headers: { Version: ['one'] } })), URL0), /x-header-add: expected "a,b", header absent/);
  fails(compareGatewayHttp(e, reply(200, echoBody({ headers: { 'X-Header-Add': ['a,b'], Version: ['one'], 'x-remove': ['1'] } })), URL0), /X-Remove: expected absent/);
});

test('gateway-http: response headers exact, valid values (whitespace-insensitive when asked), absent', () => {
  const e = expectation({ response: { headers: { 'X-Header-Set': 'set' }, absentHeaders: ['X-Header-Remove'] } });
  assert.equal(compareGatewayHttp(e, reply(200, echoBody(), [['x-header-set', 'set']]), URL0).pass, true);
  fails(compareGatewayHttp(e, reply(200, echoBody(), [['X-Header-Set', 'other']]), URL0), /response header X-Header-Set: expected "set", got "other"/);
  fails(compareGatewayHttp(e, reply(200, echoBody(), []), URL0), /X-Header-Set: expected "set", header absent/);
  fails(compareGatewayHttp(e, reply(200, echoBody(), [['X-Header-Set', 'set'], ['x-header-remove', 'v']]), URL0), /X-Header-Remove: expected absent/);
  const multi = expectation({ response: { headers: { 'X-Header-Add': 'some-other-value,add-appends-values' } } });
  assert.equal(compareGatewayHttp(multi, reply(200, echoBody(), [['X-Header-Add', 'some-other-value'], ['X-Header-Add', 'add-appends-values']]), URL0).pass, true, 'repeated response headers joined with a comma');
  const valid = expectation({ response: { validHeaderValues: { 'access-control-allow-methods': ['GET, OPTIONS', 'OPTIONS, GET'] }, ignoreWhitespace: true } });
  assert.equal(compareGatewayHttp(valid, reply(200, echoBody(), [['Access-Control-Allow-Methods', 'OPTIONS,GET']]), URL0).pass, true);
  fails(compareGatewayHttp(valid, reply(200, echoBody(), [['Access-Control-Allow-Methods', 'GET']]), URL0), /expected one of/);
  const strictWs = expectation({ response: { validHeaderValues: { a: ['x, y'] } } });
  fails(compareGatewayHttp(strictWs, reply(200, echoBody(), [['a', 'x,y']]), URL0), /expected one of/);
});

test('gateway-http: backend is a pod-name prefix; null backend is not checked', () => {
  fails(compareGatewayHttp(expectation(), reply(200, echoBody({ pod: 'infra-backend-v2-abcdefghij-klmno' })), URL0), /backend: expected a pod of infra-backend-v1/);
  assert.equal(compareGatewayHttp(expectation({ backend: null }), reply(200, echoBody({ pod: 'infra-backend-v2-x-y' })), URL0).pass, true);
});

test('gateway-http: a CORS preflight answered by the gateway must not reach a backend', () => {
  const e = expectation({
    statusCodes: [200, 204],
    backend: null,
    namespace: '',
    backendRequest: { method: 'OPTIONS', path: '', host: null, headers: null, absentHeaders: [] },
    response: { validHeaderValues: { 'access-control-allow-origin': ['https://www.foo.com'] } },
  });
  assert.equal(compareGatewayHttp(e, reply(204, undefined, [['access-control-allow-origin', 'https://www.foo.com']]), URL0).pass, true);
  fails(compareGatewayHttp(e, reply(200, echoBody({ method: 'OPTIONS' }), [['access-control-allow-origin', 'https://www.foo.com']]), URL0), /without reaching a backend/);
  fails(compareGatewayHttp(e, reply(204, undefined, []), URL0), /access-control-allow-origin: expected one of/);
});

test('gateway-http: redirect Location scheme, host, port (null = empty or default) and path', () => {
  const e = expectation({ statusCode: 302, statusCodes: [302], backend: null, redirect: { scheme: 'https', host: 'example.org', port: null, path: '/x' } });
  assert.equal(compareGatewayHttp(e, reply(302, undefined, [['Location', 'https://example.org/x']]), URL0).pass, true);
  assert.equal(compareGatewayHttp(e, reply(302, undefined, [['Location', 'https://example.org:443/x']]), URL0).pass, true);
  fails(compareGatewayHttp(e, reply(302, undefined, [['Location', 'https://example.org:8443/x']]), URL0), /redirect port: expected empty or 443, got 8443/);
  fails(compareGatewayHttp(e, reply(302, undefined, [['Location', 'http://example.org/x']]), URL0), /redirect scheme: expected https, got http/);
  fails(compareGatewayHttp(e, reply(302, undefined, [['Location', 'https://other.org/x']]), URL0), /redirect host: expected example.org/);
  fails(compareGatewayHttp(e, reply(302, undefined, [['Location', 'https://example.org/y']]), URL0), /redirect path: expected \/x, got \/y/);
  fails(compareGatewayHttp(e, reply(302, undefined, []), URL0), /expected a Location header/);
  const anyHost = { scheme: 'http', host: null, port: '8080', path: '/p' };
  assert.deepEqual(compareRedirect(anyHost, 'http://whatever:8080/p', URL0), []);
  assert.deepEqual(compareRedirect(anyHost, '/p', 'http://gw:8080/q'), [], 'relative Location resolved against the request');
  assert.equal(compareGatewayHttp(expectation({ statusCodes: [301] }), reply(301, undefined, []), URL0).pass, true, 'no redirect expectation: nothing checked');
});

test('grpc: code; on OK the method, namespace and backend prefix; headers never compared', () => {
  const e: CaseExpectation = { grpcCode: 'OK', backend: 'grpc-infra-backend-v1', namespace: 'gateway-conformance-infra', fullyQualifiedMethod: '/svc/Echo' };
  const ok = (pod: string, method = '/svc/Echo', ns = 'gateway-conformance-infra'): GrpcClientResponse => ({
    code: 'OK',
    details: '',
    assertions: { fully_qualified_method: method, headers: [{ key: 'x', value: 'wrong' }], authority: 'a', context: { namespace: ns, ingress: '', service_name: '', pod } },
  });
  assert.equal(compareGrpc(e, ok('grpc-infra-backend-v1-a-b')).pass, true);
  fails(compareGrpc(e, ok('grpc-infra-backend-v2-a-b')), /backend: expected a pod of grpc-infra-backend-v1/);
  fails(compareGrpc(e, ok('grpc-infra-backend-v1-a-b', '/svc/EchoTwo')), /grpc method: expected \/svc\/Echo/);
  fails(compareGrpc(e, ok('grpc-infra-backend-v1-a-b', '/svc/Echo', 'x')), /namespace: expected gateway-conformance-infra/);
  fails(compareGrpc(e, { code: 'UNIMPLEMENTED', details: 'no', assertions: undefined }), /grpc code: expected OK, got UNIMPLEMENTED/);
  assert.equal(compareGrpc({ grpcCode: 'UNIMPLEMENTED' }, { code: 'UNIMPLEMENTED', details: '', assertions: undefined }).pass, true);
  assert.equal(compareGrpc({ grpcCode: 'Unimplemented', backend: null, namespace: null, fullyQualifiedMethod: null }, { code: 'UNIMPLEMENTED', details: '', assertions: undefined }).pass, true, 'Go and grpc-js spellings agree');
  fails(compareGrpc({ grpcCode: 'DeadlineExceeded' }, { code: 'UNAVAILABLE', details: '', assertions: undefined }), /expected DeadlineExceeded, got UNAVAILABLE/);
  fails(compareGrpc({ grpcCode: 'UNIMPLEMENTED' }, ok('p-a-b')), /expected UNIMPLEMENTED, got OK/);
});

test('mesh-echo: status, request headers, first response value, absent headers, Hostname prefix; path only when strict', () => {
  const text = [
    'StatusCode=200',
    'ResponseHeader=X-Header-Set:set',
    'ResponseHeader=X-Header-Set:second',
    'URL=/v2/x',
    'RequestHeader=X-Header-Add:a',
    'RequestHeader=X-Header-Add:b',
    'Hostname=echo-v2-abc-def',
  ].join('\n');
  const parsed = parseEchoAdvanced(text);
  const e: CaseExpectation = {
    statusCode: 200,
    statusCodes: [200],
    backend: 'echo-v2',
    namespace: 'gateway-conformance-mesh',
    backendRequest: { headers: { 'x-header-add': 'a,b' }, absentHeaders: ['X-Gone'], path: '/named', pathAssertedUpstream: false },
    response: { headers: { 'x-header-set': 'set' }, absentHeaders: ['X-Nope'] },
  };
  assert.equal(compareMeshEcho(e, parsed).pass, true, 'path and namespace are not checked by the mesh comparator');
  fails(compareMeshEcho(e, parsed, { strict: true }), /\(strict\) backend request path: expected \/named/);
  fails(compareMeshEcho({ ...e, backend: 'echo-v1' }, parsed), /backend: expected a pod of echo-v1, got "echo-v2-abc-def"/);
  fails(compareMeshEcho({ ...e, response: { headers: { 'X-Header-Set': 'second' } } }, parsed), /expected "second", got "set"/);
  fails(compareMeshEcho({ ...e, response: { absentHeaders: ['x-header-set'] } }, parsed), /x-header-set: expected absent/);
  fails(compareMeshEcho({ ...e, backendRequest: { headers: { 'X-Header-Add': 'a' }, absentHeaders: [] } }, parsed), /expected "a", got "a,b"/);
  fails(compareMeshEcho({ ...e, backendRequest: { headers: null, absentHeaders: ['x-header-add'] } }, parsed), /x-header-add: expected absent/);
  fails(compareMeshEcho({ ...e, statusCodes: [302] }, parsed), /status: expected one of \[302\], got 200/);
  const redirect = parseEchoAdvanced('StatusCode=302\nResponseHeader=Location:http://echo/replacement-prefix/lemon\n');
  const re: CaseExpectation = { statusCodes: [302], backend: null, redirect: { scheme: 'http', host: null, port: null, path: '/other', assertedUpstream: false } };
  assert.equal(compareMeshEcho(re, redirect).pass, true, 'Location not asserted upstream');
  fails(compareMeshEcho(re, redirect, { strict: true }), /\(strict\) redirect path: expected \/other/);
});

test('websocket-echo: frames must come back identical and in order', () => {
  const e: CaseExpectation = {
    exchange: [
      { send: { text: 'Websocket Support!' }, receive: { text: 'Websocket Support!' } },
      { send: { binary: [1, 2, 3] }, receive: { binary: [1, 2, 3] } },
    ],
  };
  assert.equal(compareWebSocket(e, [{ text: 'Websocket Support!' }, { binary: [1, 2, 3] }]).pass, true);
  fails(compareWebSocket(e, [{ text: 'Websocket Support!' }, { text: '\u0001\u0002\u0003' }]), /frame 1/);
  fails(compareWebSocket(e, [{ text: 'Websocket Support!' }]), /frame 1: .*nothing received/);
});

test('weights: ±tolerance per backend, weight-0 backends get nothing, no unexpected backends', () => {
  const weights = { 'infra-backend-v1': 0.7, 'infra-backend-v2': 0.3, 'infra-backend-v3': 0 };
  assert.equal(compareWeights(new Map([['infra-backend-v1', 360], ['infra-backend-v2', 140]]), weights).pass, true, '0.72/0.28 is inside ±0.05');
  fails(compareWeights(new Map([['infra-backend-v1', 400], ['infra-backend-v2', 100]]), weights), /infra-backend-v1: expected 0.70±0.05, observed 0.800/);
  fails(compareWeights(new Map([['infra-backend-v1', 350], ['infra-backend-v2', 149], ['infra-backend-v3', 1]]), weights), /infra-backend-v3: weight 0 but received 1/);
  fails(compareWeights(new Map([['infra-backend-v1', 350], ['infra-backend-v2', 140], ['web-backend', 10]]), weights), /unexpected backend web-backend/);
  fails(compareWeights(new Map(), weights), /no successful requests/);
  assert.equal(backendFromPod('infra-backend-v1-7d9f8c6b5-abcde'), 'infra-backend-v1');
});

test('mirror: percentage within ±3σ of the binomial mean; plain mirrors must log the URI', () => {
  // 500 × 20 %: mean 100, σ = √80 ≈ 8.94, band ≈ ±26.8.
  assert.equal(compareMirrorPercentage(100, 500, 20).pass, true);
  assert.equal(compareMirrorPercentage(126, 500, 20).pass, true);
  fails(compareMirrorPercentage(128, 500, 20), /expected 100.0±26.8 of 500/);
  fails(compareMirrorPercentage(500, 500, 50), /observed 500/);
  assert.equal(compareMirrored([{ name: 'v2', namespace: 'ns', count: 1 }], '/mirror').pass, true);
  fails(compareMirrored([{ name: 'v2', namespace: 'ns', count: 1 }, { name: 'v3', namespace: 'ns', count: 0 }], '/mirror?id=1'), /mirror ns\/v3: expected a mirrored request for \/mirror\?id=1/);
});
