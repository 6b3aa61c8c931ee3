// Admin API handlers of the identity service as plain async functions returning JSON, for the control
// plane's admin HTTP server (127.0.0.1) to mount: status, rotate-root, recover, bundle, metrics.
import { IdentityError } from '../../identity/errors.ts';
import type { IdentityAuthority } from './authority.ts';

export interface AdminResponse {
  status: number;
  body: unknown;
  /** Defaults to application/json; metrics are text/plain. */
  contentType?: string;
}

export type AdminHandler = (request: { body?: unknown; query?: URLSearchParams }) => Promise<AdminResponse>;

function failure(error: unknown): AdminResponse {
  if (error instanceof IdentityError) return { status: 409, body: { error: error.toJSON() } };
  return { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error' } } };
}

/** Route table: `'METHOD /path' → handler`. */
export function identityAdminRoutes(authority: IdentityAuthority): Record<string, AdminHandler> {
  return {
    'GET /identity/status': async () => ({ status: 200, body: authority.status() }),
    'GET /identity/bundle': async () => ({ status: 200, body: authority.bundle.current.pem, contentType: 'application/x-pem-file' }),
    'GET /identity/metrics': async () => ({ status: 200, body: authority.metrics(), contentType: 'text/plain; version=0.0.4' }),
    'POST /identity/rotate-root': async () => {
      try {
        return { status: 200, body: await authority.rotateRoot() };
      } catch (error) {
        return failure(error);
      }
    },
    'POST /identity/recover': async (request) => {
      try {
        // `force` only in the JSON body: the admin server accepts POSTs only as application/json, which a
        // web page cannot send cross-site without a preflight.
        const force = (request.body as { force?: unknown } | undefined)?.force === true;
        return { status: 200, body: await authority.recover({ force }) };
      } catch (error) {
        return failure(error);
      }
    },
  };
}
