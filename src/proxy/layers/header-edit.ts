// Header-edit layer: applies a route's set/add/remove edits to request or response headers in place.
import type { HeaderEditConfig } from '../runtime/snapshot.ts';
import type { HeaderMap } from '../protocols/exchange.ts';

export function applyHeaderEdit(headers: HeaderMap, edit: HeaderEditConfig | undefined): void {
  if (edit === undefined) return;
  for (const name of edit.remove) delete headers[name];
  for (const [name, value] of edit.set) headers[name] = value;
  for (const [name, value] of edit.add) {
    const cur = headers[name];
    headers[name] = cur === undefined ? value : Array.isArray(cur) ? [...cur, value] : [cur, value];
  }
}
