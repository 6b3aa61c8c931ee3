// Static bootstrap loader: reads a YAML or JSON proxy config spec from a file (or a string), reads
// the identity files it names, and compiles it into a RuntimeSnapshot. Validation errors carry the
// file, line and column of the offending field so an operator can fix the file directly.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { err, type Result } from '../../core/result.ts';
import { compileSnapshot, formatPath, ProxyConfigInvalidError, type ConfigIssue, type RuntimeSnapshot } from './snapshot.ts';

/** An issue located in the source file. */
export interface LocatedIssue extends ConfigIssue {
  readonly file: string;
  readonly line: number | undefined;
  readonly col: number | undefined;
}

/** The error a bootstrap file fails with; `issues` carries file:line:col for each problem. */
export class BootstrapInvalidError extends ProxyConfigInvalidError {
  readonly located: readonly LocatedIssue[];
  constructor(located: readonly LocatedIssue[], file: string) {
    super(located, file);
    this.located = located;
    const lines = located.map((i) => `${i.file}:${i.line ?? '?'}:${i.col ?? '?'} ${formatPath(i.path)}: ${i.message}`);
    this.message = `invalid bootstrap ${file}:\n  ${lines.join('\n  ')}`;
  }
}

/** Reads and compiles a bootstrap file (`.yaml`, `.yml` or `.json`; JSON is valid YAML). */
export function loadBootstrapFile(file: string): Result<RuntimeSnapshot, BootstrapInvalidError> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return err(new BootstrapInvalidError([{ file, line: undefined, col: undefined, path: [], message: `cannot read: ${(e as Error).message}` }], file));
  }
  return loadBootstrapText(text, file, dirname(resolve(file)));
}

type YamlModule = typeof import('yaml');
let yamlModule: YamlModule | undefined;
/** The YAML parser, loaded on first use: a JSON bootstrap that validates never needs it (sidecar RSS). */
function yaml(): YamlModule {
  yamlModule ??= createRequire(import.meta.url)('yaml') as YamlModule;
  return yamlModule;
}

/** Parses and compiles bootstrap text; relative identity file paths resolve against `baseDir`. */
export function loadBootstrapText(text: string, file = '<bootstrap>', baseDir = process.cwd()): Result<RuntimeSnapshot, BootstrapInvalidError> {
  // Fast path: valid JSON that compiles needs no positions.
  if (/^\s*\{/.test(text)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (parsed !== undefined) {
      const fast = compileParsed(parsed, text, baseDir);
      if (fast !== undefined) return fast;
    }
  }
  const { LineCounter, parseDocument, isNode } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return err(
      new BootstrapInvalidError(
        doc.errors.map((e) => {
          const pos = lineCounter.linePos(e.pos[0]);
          return { file, line: pos.line, col: pos.col, path: [], message: e.message.split('\n')[0]! };
        }),
        file,
      ),
    );
  }
  const spec = doc.toJS() as unknown;
  const locate = (issue: ConfigIssue): LocatedIssue => {
    // Walk up the path until a node with a source range exists (missing fields point at their parent).
    for (let n = issue.path.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(issue.path.slice(0, n), true);
      if (isNode(node) && node.range) {
        const pos = lineCounter.linePos(node.range[0]);
        return { ...issue, file, line: pos.line, col: pos.col };
      }
    }
    return { ...issue, file, line: undefined, col: undefined };
  };

  const fileIssues = readIdentityFiles(spec, baseDir);
  if (fileIssues.length > 0) return err(new BootstrapInvalidError(fileIssues.map(locate), file));
  const version = createHash('sha256').update(text).digest('hex').slice(0, 12);
  const compiled = compileSnapshot(spec, { defaultVersion: version });
  if (compiled.ok) return compiled;
  return err(new BootstrapInvalidError(compiled.error.issues.map(locate), file));
}

/** JSON fast path: the compiled snapshot, or undefined when anything is wrong (then YAML parsing locates it). */
function compileParsed(spec: unknown, text: string, baseDir: string): Result<RuntimeSnapshot, BootstrapInvalidError> | undefined {
  if (readIdentityFiles(spec, baseDir).length > 0) return undefined;
  const compiled = compileSnapshot(spec, { defaultVersion: createHash('sha256').update(text).digest('hex').slice(0, 12) });
  return compiled.ok ? compiled : undefined;
}

/** Reads `…File` identity fields into `…Pem` fields (in place); returns the problems. */
function readIdentityFiles(spec: unknown, baseDir: string): ConfigIssue[] {
  const fileIssues: ConfigIssue[] = [];
  const identity = (spec as { workload?: { identity?: Record<string, unknown> } } | null)?.workload?.identity;
  if (identity && typeof identity === 'object') {
    for (const base of ['certChain', 'key', 'trustBundle']) {
      const f = identity[`${base}File`];
      if (f === undefined) continue;
      if (identity[`${base}Pem`] !== undefined) {
        fileIssues.push({ path: ['workload', 'identity', `${base}File`], message: `set either ${base}File or ${base}Pem, not both` });
        continue;
      }
      if (typeof f !== 'string') {
        fileIssues.push({ path: ['workload', 'identity', `${base}File`], message: 'expected a file path' });
        continue;
      }
      try {
        identity[`${base}Pem`] = readFileSync(resolve(baseDir, f), 'utf8');
        delete identity[`${base}File`];
      } catch (e) {
        fileIssues.push({ path: ['workload', 'identity', `${base}File`], message: `cannot read ${f}: ${(e as Error).message}` });
      }
    }
  }
  return fileIssues;
}
