// Comparators: the upstream Gateway API conformance checks as pure functions (gateway-http =
// http.CompareRoundTrip, grpc = grpc.compareResponse, mesh-echo = echo.compareRequest, websocket-echo),
// plus the weight-distribution and mirror checks. Each returns pass or the precise list of differences.
import type { HttpClientResponse, GrpcClientResponse, WebSocketFrame } from './clients.ts';
import type { CaseExpectation, CaseRequest, ExpectedResponse } from './corpus.ts';
import { deploymentOfPod } from './corpus.ts';
import type { EchoAdvancedResponse } from '../support/echo-advanced.ts';

export interface Verdict {
  pass: boolean;
  differences: string[];
}

function verdict(differences: string[]): Verdict {
  return { pass: differences.length === 0, differences };
}

const REDIRECT_CODES = new Set([300, 301, 302, 303, 304, 305, 307, 308]);

/** Rule 1 of CompareRoundTrip: one of `statusCodes`; 408 and 504 are interchangeable when either is expected. */
export function statusAccepted(expected: readonly number[], actual: number): boolean {
  if (expected.includes(actual)) return true;
  const timeout = (c: number) => c === 408 || c === 504;
  return timeout(actual) && expected.some(timeout);
}

function expectedCodes(e: CaseExpectation): number[] {
  if (e.statusCodes !== undefined && e.statusCodes.length > 0) return e.statusCodes;
  return e.statusCode !== undefined ? [e.statusCode] : [200];
}

/** All values of a header, case-insensitively, in order. */
function headerValues(pairs: ReadonlyArray<readonly [string, string]>, name: string): string[] {
  const n = name.toLowerCase();
  return pairs.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}

function echoHeaderValues(headers: Record<string, string[]>, name: string): string[] | undefined {
  const n = name.toLowerCase();
  let found: string[] | undefined;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === n) found = [...(found ?? []), ...v];
  return found;
}

function compareResponseHeaders(expected: ExpectedResponse | undefined, pairs: ReadonlyArray<readonly [string, string]>, firstValueOnly: boolean): string[] {
  const out: string[] = [];
  if (expected === undefined) return out;
  const squash = (s: string) => (expected.ignoreWhitespace === true ? s.replace(/\s+/g, '') : s);
  const actualOf = (name: string): string | undefined => {
    const values = headerValues(pairs, name);
    if (values.length === 0) return undefined;
    return firstValueOnly ? values[0] : values.join(',');
  };
  for (const [name, want] of Object.entries(expected.headers ?? {})) {
    const got = actualOf(name);
    if (got === undefined) out.push(`response header ${name}: expected ${JSON.stringify(want)}, header absent`);
    else if (squash(got) !== squash(want)) out.push(`response header ${name}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
  for (const [name, allowed] of Object.entries(expected.validHeaderValues ?? {})) {
    const got = actualOf(name);
    if (got === undefined) out.push(`response header ${name}: expected one of ${JSON.stringify(allowed)}, header absent`);
    else if (!allowed.some((a) => squash(a) === squash(got))) out.push(`response header ${name}: expected one of ${JSON.stringify(allowed)}, got ${JSON.stringify(got)}`);
  }
  for (const name of expected.absentHeaders ?? []) {
    const got = actualOf(name);
    if (got !== undefined) out.push(`response header ${name}: expected absent, got ${JSON.stringify(got)}`);
  }
  return out;
}

function defaultPort(scheme: string): string {
  return scheme === 'https' ? '443' : scheme === 'http' ? '80' : '';
}

/** Rule 3: the Location's scheme, host, port and path against the (defaults-filled) expectation. */
export function compareRedirect(expected: NonNullable<CaseExpectation['redirect']>, location: string | undefined, requestUrl: string): string[] {
  if (location === undefined) return ['redirect: expected a Location header, none sent'];
  let url: URL;
  try {
    url = new URL(location, requestUrl);
  } catch {
    return [`redirect: Location ${JSON.stringify(location)} is not a URL`];
  }
  const out: string[] = [];
  const scheme = url.protocol.replace(/:$/, '');
  if (scheme !== expected.scheme) out.push(`redirect scheme: expected ${expected.scheme}, got ${scheme} (Location ${location})`);
  if (expected.host !== null && url.hostname !== expected.host) out.push(`redirect host: expected ${expected.host}, got ${url.hostname} (Location ${location})`);
  const gotPort = url.port === '' ? defaultPort(scheme) : url.port;
  const wantPort = expected.port === null ? defaultPort(expected.scheme) : expected.port;
  if (gotPort !== wantPort) out.push(`redirect port: expected ${expected.port === null ? `empty or ${wantPort}` : wantPort}, got ${url.port === '' ? 'empty' : url.port} (Location ${location})`);
  if (url.pathname !== expected.path) out.push(`redirect path: expected ${expected.path}, got ${url.pathname} (Location ${location})`);
  return out;
}

/**
 * gateway-http (upstream http.CompareRoundTrip). `requestUrl` is the absolute URL sent (for relative
 * Locations). When the reply is not echo JSON the captured request is empty, as upstream.
 */
export function compareGatewayHttp(expected: CaseExpectation, response: HttpClientResponse, requestUrl: string): Verdict {
  const out: string[] = [];
  const codes = expectedCodes(expected);
  if (!statusAccepted(codes, response.statusCode)) {
    out.push(`status: expected one of [${codes.join(', ')}], got ${response.statusCode}`);
    return verdict(out);
  }
  const status = response.statusCode;
  if (status === 200 || status === 204) {
    const br = expected.backendRequest;
    const captured = response.echo ?? { path: '', host: '', method: '', namespace: '', pod: '', headers: {} as Record<string, string[]> };
    const answeredByGateway = br !== undefined && br.path === '' && (expected.namespace ?? '') === '';
    if (answeredByGateway) {
      // CORS preflight shape: the gateway itself answers; no echo body may be present.
      if (response.echo !== undefined) out.push(`backend: expected the gateway to answer without reaching a backend, but pod ${response.echo.pod} echoed the request`);
    } else {
      if (br?.host !== undefined && br.host !== null && br.host !== '' && br.host !== captured.host) out.push(`backend request host: expected ${br.host}, got ${JSON.stringify(captured.host)}`);
      if (br?.path !== undefined && br.path !== captured.path) out.push(`backend request path: expected ${br.path}, got ${JSON.stringify(captured.path)}`);
      const method = br?.method ?? 'GET';
      if (method !== captured.method) out.push(`backend request method: expected ${method}, got ${JSON.stringify(captured.method)}`);
      if (expected.namespace !== undefined && expected.namespace !== null && expected.namespace !== captured.namespace) out.push(`namespace: expected ${JSON.stringify(expected.namespace)}, got ${JSON.stringify(captured.namespace)}`);
      if (br?.headers) {
        for (const [name, want] of Object.entries(br.headers)) {
          const got = echoHeaderValues(captured.headers, name);
          if (got === undefined) out.push(`backend request header ${name}: expected ${JSON.stringify(want)}, header absent`);
          else if (got.join(',') !== want) out.push(`backend request header ${name}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got.join(','))}`);
        }
      }
      for (const name of br?.absentHeaders ?? []) {
        const got = echoHeaderValues(captured.headers, name);
        if (got !== undefined) out.push(`backend request header ${name}: expected absent, got ${JSON.stringify(got.join(','))}`);
      }
    }
    out.push(...compareResponseHeaders(expected.response, response.headers, false));
    if (!answeredByGateway && expected.backend !== undefined && expected.backend !== null && expected.backend !== '' && !captured.pod.startsWith(expected.backend)) {
      out.push(`backend: expected a pod of ${expected.backend}, got ${JSON.stringify(captured.pod)}`);
    }
    return verdict(out);
  }
  if (REDIRECT_CODES.has(status) && expected.redirect !== undefined) {
    out.push(...compareRedirect(expected.redirect, headerValues(response.headers, 'location')[0], requestUrl));
  }
  return verdict(out);
}

/** Go spells codes `Unimplemented`, grpc-js `UNIMPLEMENTED`: compare without case and underscores. */
export function grpcCodeKey(code: string): string {
  return code.replace(/_/g, '').toLowerCase();
}

/** grpc (upstream grpc.compareResponse): code; when OK the method, namespace and backend pod prefix. Headers never. */
export function compareGrpc(expected: CaseExpectation, response: GrpcClientResponse): Verdict {
  const out: string[] = [];
  const code = expected.grpcCode ?? 'OK';
  if (grpcCodeKey(response.code) !== grpcCodeKey(code)) {
    out.push(`grpc code: expected ${code}, got ${response.code}${response.details ? ` (${response.details})` : ''}`);
    return verdict(out);
  }
  if (grpcCodeKey(code) !== 'ok') return verdict(out);
  const a = response.assertions;
  if (a === undefined) return verdict(['grpc: OK without an EchoResponse.assertions']);
  if (expected.fullyQualifiedMethod !== undefined && expected.fullyQualifiedMethod !== null && a.fully_qualified_method !== expected.fullyQualifiedMethod) {
    out.push(`grpc method: expected ${expected.fullyQualifiedMethod}, got ${a.fully_qualified_method}`);
  }
  if (expected.namespace !== undefined && expected.namespace !== null && expected.namespace !== '' && a.context?.namespace !== expected.namespace) {
    out.push(`namespace: expected ${expected.namespace}, got ${JSON.stringify(a.context?.namespace ?? '')}`);
  }
  if (expected.backend !== undefined && expected.backend !== null && expected.backend !== '' && !(a.context?.pod ?? '').startsWith(expected.backend)) {
    out.push(`backend: expected a pod of ${expected.backend}, got ${JSON.stringify(a.context?.pod ?? '')}`);
  }
  return verdict(out);
}

export interface MeshCompareOptions {
  /** Also check what upstream records but does not assert (backend path, redirect Location). */
  strict?: boolean;
  /** The request as sent (strict mode resolves relative Locations against it). */
  request?: CaseRequest;
}

/** mesh-echo (upstream echo.compareRequest) over a parsed echo-advanced client printout. */
export function compareMeshEcho(expected: CaseExpectation, response: EchoAdvancedResponse, options: MeshCompareOptions = {}): Verdict {
  const out: string[] = [];
  const codes = expectedCodes(expected);
  const status = response.statusCode ?? 0;
  if (!codes.includes(status)) {
    out.push(`status: expected one of [${codes.join(', ')}], got ${response.statusCode ?? 'none'}`);
    return verdict(out);
  }
  const br = expected.backendRequest;
  if (br?.headers) {
    for (const [name, want] of Object.entries(br.headers)) {
      const got = headerValues(response.requestHeaders, name);
      if (got.length === 0) out.push(`backend request header ${name}: expected ${JSON.stringify(want)}, header absent`);
      else if (got.join(',') !== want) out.push(`backend request header ${name}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got.join(','))}`);
    }
  }
  for (const name of br?.absentHeaders ?? []) {
    const got = headerValues(response.requestHeaders, name);
    if (got.length > 0) out.push(`backend request header ${name}: expected absent, got ${JSON.stringify(got.join(','))}`);
  }
  out.push(...compareResponseHeaders(expected.response, response.responseHeaders, true));
  if (expected.backend !== undefined && expected.backend !== null && expected.backend !== '' && !(response.hostname ?? '').startsWith(expected.backend)) {
    out.push(`backend: expected a pod of ${expected.backend}, got ${JSON.stringify(response.hostname ?? '')}`);
  }
  if (options.strict === true) {
    if (status === 200 && br?.path !== undefined && br.path !== '' && (response.fields['URL'] ?? '') !== br.path) {
      out.push(`(strict) backend request path: expected ${br.path}, got ${JSON.stringify(response.fields['URL'] ?? '')}`);
    }
    if (REDIRECT_CODES.has(status) && expected.redirect !== undefined) {
      const location = headerValues(response.responseHeaders, 'location')[0];
      const base = options.request?.url ?? 'http://echo/';
      out.push(...compareRedirect(expected.redirect, location, base).map((d) => `(strict) ${d}`));
    }
  }
  return verdict(out);
}

/** websocket-echo: each frame sent must come back identical, in order. */
export function compareWebSocket(expected: CaseExpectation, received: readonly WebSocketFrame[]): Verdict {
  const out: string[] = [];
  const exchange = expected.exchange ?? [];
  exchange.forEach((step, i) => {
    const got = received[i];
    if (got === undefined) out.push(`websocket frame ${i}: expected ${JSON.stringify(step.receive)}, nothing received`);
    else if (JSON.stringify(got) !== JSON.stringify(step.receive)) out.push(`websocket frame ${i}: expected ${JSON.stringify(step.receive)}, got ${JSON.stringify(got)}`);
  });
  if (received.length > exchange.length) out.push(`websocket: ${received.length - exchange.length} unexpected extra frame(s)`);
  return verdict(out);
}

/** The Service/Deployment a reply came from: the pod name without its last two `-` segments. */
export const backendFromPod = deploymentOfPod;

/**
 * Weight distribution: |observed fraction − weight| ≤ tolerance for every backend, and exactly the
 * backends with weight > 0 receive traffic (nothing else may answer).
 */
export function compareWeights(counts: ReadonlyMap<string, number>, expectedWeights: Readonly<Record<string, number>>, tolerance = 0.05): Verdict {
  const out: string[] = [];
  let total = 0;
  for (const n of counts.values()) total += n;
  if (total === 0) return verdict(['distribution: no successful requests to count']);
  for (const [backend, weight] of Object.entries(expectedWeights)) {
    const n = counts.get(backend) ?? 0;
    const observed = n / total;
    if (weight === 0 && n > 0) out.push(`distribution ${backend}: weight 0 but received ${n} of ${total} requests`);
    else if (weight > 0 && n === 0) out.push(`distribution ${backend}: weight ${weight} but received no requests`);
    else if (Math.abs(observed - weight) > tolerance) out.push(`distribution ${backend}: expected ${weight.toFixed(2)}±${tolerance}, observed ${observed.toFixed(3)} (${n}/${total})`);
  }
  for (const [backend, n] of counts) {
    if (!(backend in expectedWeights)) out.push(`distribution: unexpected backend ${backend} received ${n} of ${total} requests`);
  }
  return verdict(out);
}

/** Percentage mirror: mirrored count within ±k·σ of total·p (binomial), p = percent/100. */
export function compareMirrorPercentage(mirrored: number, total: number, percent: number, stdDevs = 3): Verdict {
  const p = percent / 100;
  const mean = total * p;
  const band = stdDevs * Math.sqrt(total * p * (1 - p));
  if (Math.abs(mirrored - mean) <= band) return verdict([]);
  return verdict([`mirror ${percent}%: expected ${mean.toFixed(1)}±${band.toFixed(1)} of ${total} requests mirrored, observed ${mirrored}`]);
}

/** Plain mirror: every listed mirror backend logged the request URI at least once. */
export function compareMirrored(mirrors: ReadonlyArray<{ name: string; namespace: string; count: number }>, uri: string): Verdict {
  return verdict(mirrors.filter((m) => m.count < 1).map((m) => `mirror ${m.namespace}/${m.name}: expected a mirrored request for ${uri}, none logged`));
}
