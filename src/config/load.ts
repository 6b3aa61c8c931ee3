// Reading configuration from disk: files and directories (.yaml, .yml, .json, recursively, sorted),
// refusing a file over the size limit before reading it, and rejecting binary or non-UTF-8 content
// with its position. The texts then go through validateDocuments.
import { readdir, readFile, stat } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import { join, extname, resolve } from 'node:path';
import { WeftError } from '../core/errors.ts';
import { validateDocuments, DEFAULT_MAX_FILE_BYTES } from './validate.ts';
import { lineColumnAt } from './parse.ts';
import type { ConfigIssue, ConfigIssueCode, ConfigLoadOptions, ConfigLoadResult, SourceDocument } from './types.ts';

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);
const MAX_DIRECTORY_DEPTH = 32;

/** A failure to read configuration, for callers that prefer exceptions (see `loadConfigFilesOrThrow`). */
export class ConfigReadError extends WeftError {
  constructor(code: 'CONFIG_INVALID' | 'FILE_NOT_FOUND', message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, options);
  }
}

function fileIssue(file: string, code: ConfigIssueCode, message: string, extra: Partial<ConfigIssue> = {}): ConfigIssue {
  return { code, severity: 'error', file, line: 0, column: 0, path: '', message, ...extra };
}

async function listFiles(dir: string, depth: number, out: string[]): Promise<void> {
  if (depth > MAX_DIRECTORY_DEPTH) return;
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) await listFiles(full, depth + 1, out);
    else if ((entry.isFile() || entry.isSymbolicLink()) && EXTENSIONS.has(extname(entry.name).toLowerCase())) out.push(full);
  }
}

/**
 * Reads every file named, or found under a named directory, into SourceDocuments. Problems (missing
 * paths, files over the limit, binary or invalid UTF-8 content) become issues; readable files are
 * still returned so that every problem can be reported at once.
 */
export async function readSourceDocuments(paths: readonly string[], options: ConfigLoadOptions = {}): Promise<{ sources: SourceDocument[]; issues: ConfigIssue[] }> {
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const sources: SourceDocument[] = [];
  const issues: ConfigIssue[] = [];
  const files: string[] = [];
  for (const path of paths) {
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      issues.push(fileIssue(path, code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_READ_FAILED', code === 'ENOENT' ? 'no such file or directory' : `cannot read: ${(error as Error).message}`));
      continue;
    }
    if (info.isDirectory()) {
      try {
        const found: string[] = [];
        await listFiles(path, 0, found);
        if (found.length === 0) issues.push({ ...fileIssue(path, 'NO_RESOURCES', 'directory has no .yaml, .yml or .json files'), severity: 'warning' });
        files.push(...found);
      } catch (error) {
        issues.push(fileIssue(path, 'FILE_READ_FAILED', `cannot read directory: ${(error as Error).message}`));
      }
    } else files.push(path);
  }
  // A file named twice (directly and through its directory, say) is read once.
  const seen = new Set<string>();
  for (const file of files) {
    const key = resolve(file);
    if (seen.has(key)) continue;
    seen.add(key);
    try {
      const info = await stat(file);
      if (!info.isFile()) {
        issues.push(fileIssue(file, 'FILE_READ_FAILED', 'not a regular file'));
        continue;
      }
      if (info.size > maxFileBytes) {
        issues.push(fileIssue(file, 'FILE_TOO_LARGE', `file is ${info.size} bytes, larger than the limit of ${maxFileBytes} bytes; not read`, { expected: `at most ${maxFileBytes} bytes`, found: `${info.size} bytes` }));
        continue;
      }
      const buffer = await readFile(file);
      if (buffer.length > maxFileBytes) {
        issues.push(fileIssue(file, 'FILE_TOO_LARGE', `file is larger than the limit of ${maxFileBytes} bytes`, { expected: `at most ${maxFileBytes} bytes`, found: `${buffer.length} bytes` }));
        continue;
      }
      const nul = buffer.indexOf(0);
      if (nul >= 0) {
        const { line, column } = lineColumnAt(buffer.subarray(0, nul).toString('utf8'), nul);
        issues.push({ ...fileIssue(file, 'BINARY_CONTENT', 'NUL byte found; this looks like a binary file, not YAML or JSON', { expected: 'YAML or JSON text', found: 'NUL byte' }), line, column: Math.max(1, column) });
        continue;
      }
      if (!isUtf8(buffer)) {
        const text = buffer.toString('utf8');
        const bad = text.indexOf('\uFFFD');
        const { line, column } = lineColumnAt(text, Math.max(0, bad));
        issues.push({ ...fileIssue(file, 'INVALID_UTF8', 'file is not valid UTF-8 text', { expected: 'UTF-8 text', found: 'invalid byte sequence' }), line, column });
        continue;
      }
      sources.push({ source: file, text: buffer.toString('utf8') });
    } catch (error) {
      issues.push(fileIssue(file, 'FILE_READ_FAILED', `cannot read: ${(error as Error).message}`));
    }
  }
  return { sources, issues };
}

/**
 * Loads files and directories (.yaml, .yml, .json; multi-document) and validates them together.
 * Never throws for bad input: every problem is an issue in the result.
 */
export async function loadConfigFiles(paths: readonly string[], options: ConfigLoadOptions = {}): Promise<ConfigLoadResult> {
  return (await loadConfigFilesWithSources(paths, options)).result;
}

/** loadConfigFiles, also returning the texts read (for showing source lines next to issues). */
export async function loadConfigFilesWithSources(
  paths: readonly string[],
  options: ConfigLoadOptions = {},
): Promise<{ result: ConfigLoadResult; sources: readonly SourceDocument[] }> {
  const { sources, issues } = await readSourceDocuments(paths, options);
  return { result: mergeReadIssues(validateDocuments(sources, options), issues), sources };
}

function mergeReadIssues(result: ConfigLoadResult, issues: readonly ConfigIssue[]): ConfigLoadResult {
  if (issues.length === 0) return result;
  const readErrors = issues.filter((i) => i.severity === 'error');
  const readWarnings = issues.filter((i) => i.severity === 'warning');
  const warnings = [...readWarnings, ...result.warnings];
  const stats = { ...result.stats, files: result.stats.files + issues.filter((i) => i.severity === 'error').length };
  if (readErrors.length === 0) return { ...result, warnings };
  const errors = [...readErrors, ...(result.ok ? [] : result.error)];
  return { ok: false, error: errors, warnings, stats };
}

/** Like loadConfigFiles, but throws a ConfigReadError (code CONFIG_INVALID, issues in `details`) when invalid. */
export async function loadConfigFilesOrThrow(paths: readonly string[], options: ConfigLoadOptions = {}): Promise<Extract<ConfigLoadResult, { ok: true }>['value']> {
  const result = await loadConfigFiles(paths, options);
  if (result.ok) return result.value;
  const first = result.error[0];
  throw new ConfigReadError('CONFIG_INVALID', `invalid configuration: ${result.error.length} error(s)${first ? `; first: ${first.file}:${first.line}:${first.column}: ${first.message}` : ''}`, {
    details: { issues: result.error },
  });
}
