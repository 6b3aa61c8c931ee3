// Renders a compiled proxy as stable JSON (maps as objects sorted by name; the trust bundle elided):
// the golden-file format, and what the admin API and `weft config` print.
import type { CompiledProxy } from './compile.ts';

const sortedObject = (m: ReadonlyMap<string, unknown>) => Object.fromEntries([...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** Stable JSON of a compiled proxy (maps as objects sorted by name). */
export function renderCompiled(c: CompiledProxy): string {
  return (
    JSON.stringify(
      {
        scope: c.scope,
        tls: { spiffeId: c.tls.spiffeId, allowedPeers: c.tls.allowedPeers ?? null },
        notes: c.notes,
        listeners: sortedObject(c.listeners),
        routes: sortedObject(c.routes),
        clusters: sortedObject(c.clusters),
        endpoints: sortedObject(c.endpoints),
      },
      (k, v) => (k === 'inline_string' ? '<trust bundle>' : v),
      2,
    ) + '\n'
  );
}
