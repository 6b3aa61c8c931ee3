// Human-readable issues, like a compiler: `file:line:col: error[CODE]: message`, the source line with
// a caret under the problem, then what was expected/found and the suggestion.
import type { ConfigIssue } from './types.ts';
import { sourceLine } from './parse.ts';

/**
 * Length of the token starting at `column` (1-based): a quoted string, a key (up to `: `), a plain
 * scalar in block context (to the end of the line or a comment), or in flow context up to `,]}`.
 */
function tokenLength(text: string, column: number): number {
  const start = column - 1;
  if (start >= text.length) return 1;
  const quote = text[start];
  if (quote === '"' || quote === "'") {
    const end = text.indexOf(quote, start + 1);
    return end > start ? end - start + 1 : text.length - start;
  }
  const rest = text.slice(start);
  const key = /^[^\s:#,[\]{}][^:#,[\]{}]*?(?=:(\s|$))/.exec(rest);
  if (key !== null) return key[0].length;
  const inFlow = /[[{]/.test(text.slice(0, start));
  const m = inFlow ? /^[^,\]}]*/.exec(rest) : /^.*?(?=\s+#|\s*$)/.exec(rest);
  return Math.max(1, (m?.[0] ?? '').trimEnd().length);
}

/**
 * One issue as text. With the file's `text`, the offending line is shown with a caret under the
 * problem. Lines are separated by `\n`; no trailing newline.
 */
export function formatIssue(issue: ConfigIssue, text?: string): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.column}` : issue.file;
  const lines = [`${where}: ${issue.severity}[${issue.code}]: ${issue.message}`];
  if (issue.path !== '' || issue.resource !== undefined) {
    lines.push(`  --> ${[issue.resource, issue.path].filter((x) => x !== undefined && x !== '').join(' at ')}`);
  }
  if (text !== undefined && issue.line > 0) {
    const src = sourceLine(text, issue.line);
    if (src.length <= 300) {
      const gutter = String(issue.line);
      const pad = ' '.repeat(gutter.length);
      lines.push(`${pad} |`);
      lines.push(`${gutter} | ${src.replace(/\t/g, ' ')}`);
      lines.push(`${pad} | ${' '.repeat(Math.max(0, issue.column - 1))}${'^'.repeat(Math.min(tokenLength(src, issue.column), 80))}`);
    }
  }
  if (issue.expected !== undefined || issue.found !== undefined) {
    const parts = [issue.expected !== undefined ? `expected ${issue.expected}` : '', issue.found !== undefined ? `found ${issue.found}` : ''].filter((p) => p !== '');
    lines.push(`  = ${parts.join('; ')}`);
  }
  if (issue.suggestion !== undefined) lines.push(`  = help: did you mean \`${issue.suggestion}\`?`);
  return lines.join('\n');
}

/** Every issue (errors first), each followed by a blank line, then a summary line. */
export function formatIssues(errors: readonly ConfigIssue[], warnings: readonly ConfigIssue[], textOf: (file: string) => string | undefined = () => undefined): string {
  const out: string[] = [];
  for (const issue of [...errors, ...warnings]) out.push(formatIssue(issue, textOf(issue.file)), '');
  const e = errors.filter((i) => i.code !== 'TOO_MANY_ISSUES').length;
  const w = warnings.filter((i) => i.code !== 'TOO_MANY_ISSUES').length;
  out.push(`${e} error${e === 1 ? '' : 's'}, ${w} warning${w === 1 ? '' : 's'}`);
  return out.join('\n');
}
