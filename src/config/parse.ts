// Turns the text of one source into documents (plain values), safely: size, NUL bytes, nesting depth,
// alias expansion and duplicate keys are all bounded and reported with line and column.
//
// Two parsers, one meaning. The fast path (js-yaml, YAML 1.2 core schema) handles the common case of
// plain multi-document YAML or JSON; it is ~15x faster than `yaml`. Anything unusual — anchors or
// aliases, directives, `...` markers, or any error at all — goes to the precise path (`yaml` with a
// LineCounter), which is also what locates every reported problem. Positions are resolved lazily by
// field path, so a valid config never pays for them.
import jsyaml from 'js-yaml';
import { parseAllDocuments, LineCounter, isMap, isSeq, isPair, isScalar, isNode, type Document, type Node as YamlNode, type Pair } from 'yaml';
import type { ConfigIssueCode } from './types.ts';
import type { PathSegment } from './schema.ts';

export interface ParseLimits {
  readonly maxDepth: number;
  readonly maxAliasCount: number;
  readonly maxDocuments: number;
  /** Skip the fast path (benchmarks, parser-agreement tests). */
  readonly preciseOnly?: boolean;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = { maxDepth: 64, maxAliasCount: 100, maxDocuments: 100_000 };

/** One non-empty document of a source. */
export interface ParsedDocument {
  /** Ordinal among the source's non-empty documents (0-based). */
  readonly index: number;
  readonly value: unknown;
  /** Position of the document's first content line (1-based). */
  readonly line: number;
  readonly column: number;
}

/** A problem found while parsing, already located. */
export interface ParseIssue {
  readonly code: ConfigIssueCode;
  readonly message: string;
  readonly line: number;
  readonly column: number;
  readonly expected?: string;
  readonly found?: string;
}

export interface ParsedSource {
  /**
   * The documents, in order. From the fast path this is lazy and one-shot: each document is loaded
   * when iterated (so it can be validated and dropped while young), and iteration throws if js-yaml
   * rejects a document — the caller then parses again with `preciseOnly`.
   */
  readonly docs: Iterable<ParsedDocument>;
  readonly issues: readonly ParseIssue[];
  /** The `yaml` documents when the precise path ran (reused for positions). */
  readonly yamlDocs: readonly Document.Parsed[] | undefined;
  readonly lineCounter: LineCounter | undefined;
}

/** Parses `text` (YAML or JSON, one or more documents). Never throws. */
export function parseSource(text: string, limits: ParseLimits = DEFAULT_PARSE_LIMITS): ParsedSource {
  // A byte-order mark is invisible in editors, so positions are counted without it.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const nul = text.indexOf('\0');
  if (nul >= 0) {
    const { line, column } = lineColumnAt(text, nul);
    return failed({ code: 'BINARY_CONTENT', message: 'NUL byte found; this looks like a binary file, not YAML or JSON', line, column, expected: 'YAML or JSON text', found: 'NUL byte' });
  }
  // Both YAML parsers recurse per nesting level; refuse pathological depth before either sees it.
  // The scan is approximate, so it guards at twice the limit; the exact check runs on the parsed tree.
  const scan = scanText(text, Math.max(2 * limits.maxDepth, 128));
  const deep = scan.deepAt;
  if (deep !== undefined) {
    const { line, column } = lineColumnAt(text, deep);
    return failed({ code: 'DEPTH_LIMIT', message: `nesting deeper than ${limits.maxDepth} levels`, line, column, expected: `at most ${limits.maxDepth} nested mappings/sequences` });
  }
  if (limits.preciseOnly !== true && !scan.underIndentedFlow && !needsPreciseParser(text)) {
    const fast = parseFast(text, limits);
    if (fast !== undefined) return fast;
  }
  return parsePrecise(text, limits);
}

/**
 * Offset where the nesting of `text` first exceeds `limit`, by a linear, non-recursive lexical scan:
 * block indentation levels, `- ` sequence indicators and flow brackets outside quotes, comments and
 * block scalars. Approximate by design (it only has to stop pathological input early).
 */
const SPECIAL = /["'#[\]{}|>]/g;

function isEscaped(text: string, at: number): boolean {
  let n = 0;
  for (let k = at - 1; k >= 0 && text.charCodeAt(k) === 92; k--) n++;
  return n % 2 === 1;
}

export function scanDepth(text: string, limit: number): number | undefined {
  return scanText(text, limit).deepAt;
}

export interface TextScan {
  /** Offset where nesting first exceeds the limit. */
  readonly deepAt: number | undefined;
  /**
   * A flow collection (or a quoted scalar) inside a block collection continues on a line that is not
   * indented more than the line that opened it. YAML forbids that; js-yaml accepts it, `yaml` does
   * not — so such text goes to the precise parser, which reports it.
   */
  readonly underIndentedFlow: boolean;
}

/** The depth pre-scan, also noting what only the precise parser judges correctly. */
export function scanText(text: string, limit: number): TextScan {
  let underIndentedFlow = false;
  let flowOpenerIndent = -1; // indent of the line that opened the outermost flow collection; -1: top-level node
  let quoteOpenerIndent = -1; // indent of the line that opened the current quoted scalar
  // Next occurrence at or after `from` of a special character (kind 0), `"` (34) or `'` (39). Each
  // search result is cached until the scan passes it, so the whole scan stays linear even when the
  // next occurrence is far away.
  const cache = new Map<number, number>();
  const next = (kind: number, from: number): number => {
    const cached = cache.get(kind);
    if (cached !== undefined && cached >= from) return cached;
    let at: number;
    if (kind === 0) {
      SPECIAL.lastIndex = from;
      const m = SPECIAL.exec(text);
      at = m === null ? text.length : m.index;
    } else {
      at = text.indexOf(kind === 34 ? '"' : "'", from);
      if (at < 0) at = text.length;
    }
    cache.set(kind, at);
    return at;
  };
  const indents: number[] = [];
  let flow = 0;
  let quote = 0; // 0, 34 ("), 39 (')
  let blockScalarIndent = -1; // > -1: inside a block scalar whose parent line had this indent
  let pos = 0;
  while (pos < text.length) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = text.length;
    let i = pos;
    while (i < eol && text.charCodeAt(i) === 32) i++;
    const indent = i - pos;
    const blank = i >= eol || text.charCodeAt(i) === 35 || text.charCodeAt(i) === 13;
    if (blockScalarIndent >= 0) {
      if (blank || indent > blockScalarIndent) {
        pos = eol + 1;
        continue;
      }
      blockScalarIndent = -1;
    }
    if (blank && quote === 0) {
      pos = eol + 1;
      continue;
    }
    if (flow > 0 && quote === 0 && flowOpenerIndent >= 0 && indent <= flowOpenerIndent) underIndentedFlow = true;
    // The same rule for a quoted scalar that continues onto this line, in block context.
    if (quote !== 0 && flow === 0 && !blank && indent <= quoteOpenerIndent) underIndentedFlow = true;
    let depth = 0;
    if (quote === 0 && flow === 0) {
      if (indent === 0 && (text.startsWith('---', i) || text.startsWith('...', i))) indents.length = 0;
      while (indents.length > 0 && (indents[indents.length - 1] as number) >= indent) indents.pop();
      indents.push(indent);
      // `- - - x`: each indicator opens a nested sequence.
      while (i + 1 < eol && text.charCodeAt(i) === 45 && text.charCodeAt(i + 1) === 32) {
        depth++;
        if (indents.length + depth > limit) return { deepAt: i, underIndentedFlow };
        i += 2;
        while (i < eol && text.charCodeAt(i) === 32) i++;
      }
      if (indents.length + depth > limit) return { deepAt: i, underIndentedFlow };
    }
    let scalarIndicator = false; // a `|` or `>` outside quotes on this line
    while (i < eol) {
      if (quote === 34) {
        // Inside "…": find the closing quote that is not escaped (an odd run of backslashes).
        let j = next(34, i);
        while (j < eol && isEscaped(text, j)) j = next(34, j + 1);
        if (j >= eol) break;
        quote = 0;
        i = j + 1;
        continue;
      }
      if (quote === 39) {
        // Inside '…': `''` is an escaped quote.
        let j = next(39, i);
        while (j < eol && text.charCodeAt(j + 1) === 39) j = next(39, j + 2);
        if (j >= eol) break;
        quote = 0;
        i = j + 1;
        continue;
      }
      i = next(0, i);
      if (i >= eol) break;
      const c = text.charCodeAt(i);
      if (c === 35) {
        const before = i === pos ? 32 : text.charCodeAt(i - 1);
        if (before === 32 || before === 9) break; // a comment
      } else if (c === 34 || c === 39) {
        // A quote starts a scalar only where a node can start.
        let b = i - 1;
        while (b >= pos && (text.charCodeAt(b) === 32 || text.charCodeAt(b) === 9)) b--;
        const p = b < pos ? 32 : text.charCodeAt(b);
        if (p === 32 || p === 58 || p === 45 || p === 91 || p === 123 || p === 44 || p === 63) {
          quote = c;
          quoteOpenerIndent = indent;
        }
      } else if (c === 91 || c === 123) {
        // A flow collection that is the whole document at column 0 (JSON) has no block parent.
        if (flow === 0) flowOpenerIndent = i === 0 || (indent === 0 && i === pos && text.charCodeAt(i - 1) === 10 && indents.length <= 1 && depth === 0 && isDocumentStart(text, pos)) ? -1 : indent;
        flow++;
        if (indents.length + depth + flow > limit) return { deepAt: i, underIndentedFlow };
      } else if (c === 93 || c === 125) {
        if (flow > 0) flow--;
      } else scalarIndicator = true; // | or >
      i++;
    }
    // `key: |` or `- >-`: the following more-indented lines are literal text. (Cheap pre-test: most
    // lines contain neither `|` nor `>`.)
    if (scalarIndicator && quote === 0 && flow === 0) {
      const tail = text.slice(pos, eol).replace(/\s+#.*$/, '').trimEnd();
      if (/(^|[\s:-])[|>][-+0-9]*$/.test(tail)) blockScalarIndent = indent;
    }
    pos = eol + 1;
  }
  return { deepAt: undefined, underIndentedFlow };
}

/** True when only blank lines, comments or a `---` marker precede `pos` in its document. */
function isDocumentStart(text: string, pos: number): boolean {
  let i = pos - 1;
  while (i >= 0) {
    const lineStart = text.lastIndexOf('\n', i - 1) + 1;
    const line = text.slice(lineStart, i).trim();
    if (line.startsWith('---')) return true;
    if (line !== '' && !line.startsWith('#')) return false;
    i = lineStart - 1;
  }
  return true;
}

/**
 * True when the text may use YAML features the fast path does not take: anchors (`&a`), aliases
 * (`*a`), tags (`!t`) where a node can start, directives (`%YAML`), or document-end markers (`...`).
 * A `&`, `*` or `!` inside a plain or quoted scalar (`"*.example.com"`, `a&b`) is not a blocker.
 */
export function needsPreciseParser(text: string): boolean {
  for (const ch of ['&', '*', '!']) {
    for (let i = text.indexOf(ch); i >= 0; i = text.indexOf(ch, i + 1)) {
      const prev = i === 0 ? 32 : text.charCodeAt(i - 1);
      // space, tab, newline, CR, `[`, `]`, `{`, `}`, `,`
      if (prev === 32 || prev === 9 || prev === 10 || prev === 13 || prev === 91 || prev === 93 || prev === 123 || prev === 125 || prev === 44) return true;
    }
  }
  if (text.startsWith('%') || text.includes('\n%')) return true;
  for (let i = text.startsWith('...') ? 0 : text.indexOf('\n...'); i >= 0; i = text.indexOf('\n...', i + 1)) {
    const at = i === 0 && text.startsWith('...') ? 3 : i + 4;
    const next = text.charCodeAt(at);
    if (Number.isNaN(next) || next === 32 || next === 9 || next === 10 || next === 13) return true;
  }
  return false;
}

function failed(issue: ParseIssue): ParsedSource {
  return { docs: [], issues: [issue], yamlDocs: undefined, lineCounter: undefined };
}

/** 1-based line and column of a character offset. */
export function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

function isMarkerLine(text: string, start: number): boolean {
  if (text.charCodeAt(start) !== 45 || text.charCodeAt(start + 1) !== 45 || text.charCodeAt(start + 2) !== 45) return false;
  const next = text.charCodeAt(start + 3);
  return Number.isNaN(next) || next === 10 || next === 13 || next === 32 || next === 9;
}

/**
 * Fast path: find the `---` lines (always document boundaries in YAML) and the first content line of
 * each document; each segment is then loaded with js-yaml when iterated. Any js-yaml error means:
 * use the precise path (the iteration throws).
 */
function parseFast(text: string, limits: ParseLimits): ParsedSource | undefined {
  const segments: { start: number; end: number; line: number; column: number }[] = [];
  let segStart = 0;
  let contentLine = 0;
  let contentColumn = 0;
  let line = 1;
  let pos = 0;
  const close = (end: number): void => {
    if (contentLine !== 0) segments.push({ start: segStart, end, line: contentLine, column: contentColumn });
  };
  while (pos <= text.length) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = text.length;
    if (isMarkerLine(text, pos)) {
      close(pos);
      segStart = pos;
      contentLine = 0;
      // Content on the marker line itself (`--- {a: 1}`) counts.
      const rest = text.slice(pos + 3, eol).trim();
      if (rest !== '' && !rest.startsWith('#')) {
        contentLine = line;
        contentColumn = 1;
      }
    } else if (contentLine === 0) {
      let i = pos;
      while (i < eol && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9 || text.charCodeAt(i) === 13)) i++;
      if (i < eol && text.charCodeAt(i) !== 35) {
        contentLine = line;
        contentColumn = i - pos + 1;
      }
    }
    pos = eol + 1;
    line++;
  }
  close(text.length);
  if (segments.length > limits.maxDocuments) return undefined;
  const options = { schema: jsyaml.CORE_SCHEMA, maxDepth: limits.maxDepth } as jsyaml.LoadOptions;
  const docs: Iterable<ParsedDocument> = {
    *[Symbol.iterator]() {
      let index = 0;
      for (const seg of segments) {
        const value = jsyaml.load(text.slice(seg.start, seg.end), options);
        if (value === null || value === undefined) continue;
        yield { index: index++, value, line: seg.line, column: seg.column };
      }
    },
  };
  return { docs, issues: [], yamlDocs: undefined, lineCounter: undefined };
}

function isEmptyYamlDoc(doc: Document.Parsed): boolean {
  const c = doc.contents;
  return c === null || (isScalar(c) && (c.value === null || c.value === undefined) && doc.errors.length === 0);
}

/** The precise path: `yaml` with positions, unique keys, an alias budget and a depth limit. */
export function parsePrecise(text: string, limits: ParseLimits): ParsedSource {
  const lineCounter = new LineCounter();
  const issues: ParseIssue[] = [];
  let yamlDocs: Document.Parsed[];
  try {
    yamlDocs = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true, logLevel: 'error' }) as Document.Parsed[];
  } catch (error) {
    return failed({ code: 'YAML_SYNTAX', message: `cannot parse: ${(error as Error).message}`, line: 1, column: 1 });
  }
  if (!Array.isArray(yamlDocs)) yamlDocs = [yamlDocs];
  const docs: ParsedDocument[] = [];
  const at = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  let ordinal = 0;
  for (const doc of yamlDocs) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors.slice(0, 20)) {
        const { line, column } = at(e.pos[0]);
        if (e.code === 'DUPLICATE_KEY') {
          const first = firstDuplicate(doc, e.pos[0]);
          const key = first?.key;
          const where = first ? at(first.offset) : undefined;
          issues.push({
            code: 'DUPLICATE_KEY',
            message: key !== undefined && where ? `duplicate key \`${key}\` (first defined at line ${where.line}, column ${where.column})` : 'duplicate key in mapping',
            line,
            column,
            expected: 'unique keys',
            ...(key !== undefined ? { found: key } : {}),
          });
        } else {
          issues.push({ code: 'YAML_SYNTAX', message: firstLine(e.message), line, column });
        }
      }
      ordinal += isEmptyYamlDoc(doc) ? 0 : 1;
      continue;
    }
    if (isEmptyYamlDoc(doc)) continue;
    if (ordinal >= limits.maxDocuments) {
      const { line, column } = at(doc.range[0]);
      issues.push({ code: 'DOCUMENT_LIMIT', message: `more than ${limits.maxDocuments} documents in one source`, line, column, expected: `at most ${limits.maxDocuments} documents` });
      break;
    }
    const index = ordinal++;
    const start = at(doc.contents?.range?.[0] ?? doc.range[0]);
    const deep = tooDeep(doc.contents, limits.maxDepth);
    if (deep !== undefined) {
      const { line, column } = at(deep);
      issues.push({ code: 'DEPTH_LIMIT', message: `nesting deeper than ${limits.maxDepth} levels`, line, column, expected: `at most ${limits.maxDepth} nested mappings/sequences` });
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: limits.maxAliasCount });
    } catch (error) {
      const message = (error as Error).message;
      if (/alias/i.test(message)) {
        issues.push({
          code: 'ALIAS_LIMIT',
          message: `too many alias expansions (more than ${limits.maxAliasCount}); refusing a possible "billion laughs" document`,
          line: start.line,
          column: start.column,
          expected: `at most ${limits.maxAliasCount} alias expansions`,
        });
      } else {
        issues.push({ code: 'YAML_SYNTAX', message: firstLine(message), line: start.line, column: start.column });
      }
      continue;
    }
    docs.push({ index, value, line: start.line, column: start.column });
  }
  return { docs, issues, yamlDocs, lineCounter };
}

function firstLine(message: string): string {
  const nl = message.indexOf('\n');
  return (nl >= 0 ? message.slice(0, nl) : message).replace(/ at line \d+, column \d+:?$/, '');
}

/** Offset of the first collection nested deeper than `max`, found without recursion. */
function tooDeep(root: unknown, max: number): number | undefined {
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (isMap(node) || isSeq(node)) {
      if (depth + 1 > max) return node.range?.[0] ?? 0;
      for (const item of node.items as unknown[]) {
        if (isPair(item)) {
          stack.push([item.key, depth + 1]);
          stack.push([item.value, depth + 1]);
        } else stack.push([item, depth + 1]);
      }
    }
  }
  return undefined;
}

/** The earlier pair with the same key as the pair whose key starts at `offset`. */
function firstDuplicate(doc: Document.Parsed, offset: number): { key: string; offset: number } | undefined {
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isMap(node)) {
      const pairs = node.items as Pair[];
      const dup = pairs.find((p) => isNode(p.key) && p.key.range?.[0] === offset);
      if (dup !== undefined) {
        const key = keyText(dup.key);
        const first = pairs.find((p) => p !== dup && keyText(p.key) === key);
        if (first !== undefined && isNode(first.key)) return { key, offset: first.key.range?.[0] ?? 0 };
        return undefined;
      }
      for (const p of pairs) stack.push(p.value);
    } else if (isSeq(node)) {
      for (const item of node.items) stack.push(item);
    }
  }
  return undefined;
}

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  return String(key);
}

/**
 * Finds where a field path points in a source, parsing it precisely the first time it is asked.
 * Missing path segments (a required field that is absent) resolve to the deepest node present.
 */
export class PositionResolver {
  readonly #text: string;
  #docs: readonly Document.Parsed[] | undefined;
  #lineCounter: LineCounter | undefined;
  #nonEmpty: Document.Parsed[] | undefined;

  constructor(text: string, parsed?: ParsedSource) {
    this.#text = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    this.#docs = parsed?.yamlDocs;
    this.#lineCounter = parsed?.lineCounter;
  }

  #ensure(): void {
    if (this.#nonEmpty !== undefined) return;
    if (this.#docs === undefined || this.#lineCounter === undefined) {
      this.#lineCounter = new LineCounter();
      try {
        this.#docs = parseAllDocuments(this.#text, { lineCounter: this.#lineCounter, uniqueKeys: false, logLevel: 'error' }) as Document.Parsed[];
        if (!Array.isArray(this.#docs)) this.#docs = [this.#docs as unknown as Document.Parsed];
      } catch {
        this.#docs = [];
      }
    }
    this.#nonEmpty = this.#docs.filter((d) => !isEmptyYamlDoc(d));
  }

  /** Line and column of `path` in document `docIndex` (the key of the last segment when `atKey`). */
  locate(docIndex: number, path: readonly PathSegment[], atKey: boolean, fallback: { line: number; column: number }): { line: number; column: number } {
    this.#ensure();
    const doc = this.#nonEmpty?.[docIndex];
    const lc = this.#lineCounter;
    if (doc === undefined || lc === undefined) return fallback;
    let node: unknown = doc.contents;
    let offset = (doc.contents as YamlNode | null)?.range?.[0] ?? doc.range[0];
    for (let i = 0; i < path.length; i++) {
      const seg = path[i];
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = (node.items as Pair[]).find((p) => keyText(p.key) === String(seg));
        if (pair === undefined) break;
        if (last && atKey && isNode(pair.key)) {
          offset = pair.key.range?.[0] ?? offset;
          break;
        }
        node = pair.value;
        const r = isNode(pair.value) ? pair.value.range : undefined;
        if (r !== undefined && r !== null) offset = r[0];
        else if (isNode(pair.key)) offset = pair.key.range?.[0] ?? offset;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (item === undefined) break;
        node = item;
        if (isNode(item) && item.range) offset = item.range[0];
      } else break;
    }
    const p = lc.linePos(offset);
    return { line: p.line, column: p.col };
  }

  /** The text of a 1-based line (for carets in human output). */
  lineText(line: number): string {
    return sourceLine(this.#text, line);
  }
}

/** The text of a 1-based line of `text`, without its line break. */
export function sourceLine(text: string, line: number): string {
  let start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) return '';
    start = nl + 1;
  }
  let end = text.indexOf('\n', start);
  if (end < 0) end = text.length;
  return text.slice(start, end).replace(/\r$/, '');
}
