// Adapts the config subsystem's validateDocuments to the store's ConfigValidator: issues become
// store problems (file, line, column, field path, message); warnings are logged, not fatal.
import { validateDocuments } from '../config/validate.ts';
import type { MeshConfig } from '../config/types.ts';
import { logger } from '../core/logger.ts';
import type { ConfigProblem, ConfigValidator } from './store/store.ts';

const log = logger('control.config');

export const meshConfigValidator: ConfigValidator<MeshConfig> = (documents) => {
  const r = validateDocuments(documents);
  for (const w of r.warnings) log.warn({ file: w.file, line: w.line, path: w.path, code: w.code }, w.message);
  if (r.ok) return { ok: true, value: r.value };
  const problems: ConfigProblem[] = r.error.map((i) => ({
    source: i.file,
    ...(i.line > 0 ? { line: i.line, column: i.column } : {}),
    ...(i.path ? { path: i.path } : {}),
    message: `${i.code}: ${i.message}`,
  }));
  return { ok: false, error: problems };
};
