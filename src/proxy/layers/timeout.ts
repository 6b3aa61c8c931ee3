// Timeout layer: the request deadline is the route's timeout (else the cluster's), shortened by a
// gRPC client's `grpc-timeout`; it is armed on the shared coarse timer, never a per-request setTimeout.
import { sharedTimer, type Deadline } from '../../core/coarse-timer.ts';
import type { ClusterConfig, RouteConfig } from '../runtime/snapshot.ts';
import { requestTimeoutFor } from '../runtime/snapshot.ts';
import type { Exchange } from '../protocols/exchange.ts';

const GRPC_UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** Parses `grpc-timeout` (e.g. `100m`, `5S`); undefined when absent or malformed. */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (m === null) return undefined;
  return Math.max(1, Math.ceil(Number(m[1]) * GRPC_UNITS[m[2]!]!));
}

/** Effective deadline in ms (0 = none). */
export function requestDeadlineMs(route: RouteConfig | undefined, cluster: ClusterConfig | undefined, ex: Exchange): number {
  let ms = route && cluster ? requestTimeoutFor(route, cluster) : 0;
  if (ex.isGrpc) {
    const g = parseGrpcTimeout(ex.headers['grpc-timeout']);
    if (g !== undefined && (ms === 0 || g < ms)) ms = g;
  }
  return ms;
}

/** Arms `onExpire` after `ms` (0 = never). */
export function armDeadline(ms: number, onExpire: () => void): Deadline | undefined {
  return ms > 0 ? sharedTimer.deadline(ms, onExpire) : undefined;
}
