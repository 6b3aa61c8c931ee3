// `weft validate <file|dir>...`: loads and validates mesh configuration and reports every problem,
// like a compiler (file:line:col, the source line with a caret, expected/found, suggestion), or as
// JSON with `--output json`. Exit 0 valid (warnings allowed), 1 invalid, 2 usage error (including a
// path that does not exist).
import type { Command } from 'commander';
import { loadConfigFilesWithSources, formatIssue, DEFAULT_MAX_FILE_BYTES, type ConfigIssue, type ConfigLoadResult, type MeshConfig } from '../../config/index.ts';

interface ValidateOptions {
  output: string;
  maxFileBytes?: string;
  quiet?: boolean;
}

function resourceCounts(config: MeshConfig): Record<string, number> {
  const counts: Record<string, number> = {};
  const add = (name: string, n: number) => {
    if (n > 0) counts[name] = n;
  };
  add('Service', config.services.size);
  add('Workload', config.workloads.size);
  add('Gateway', config.gateways.size);
  add('HTTPRoute', config.httpRoutes.size);
  add('GRPCRoute', config.grpcRoutes.size);
  add('ReferenceGrant', config.referenceGrants.size);
  add('MTLSPolicy', config.mtlsPolicies.size);
  add('AuthorizationPolicy', config.authorizationPolicies.size);
  add('BackendTrafficPolicy', config.backendTrafficPolicies.size);
  add('RateLimitPolicy', config.rateLimitPolicies.size);
  if (config.mesh.source !== undefined) counts.Mesh = 1;
  return counts;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The JSON report of `--output json`. */
export function validationReport(result: ConfigLoadResult): Record<string, unknown> {
  return {
    valid: result.ok,
    errors: result.ok ? [] : result.error,
    warnings: result.warnings,
    stats: result.stats,
    ...(result.ok ? { resources: resourceCounts(result.value) } : {}),
  };
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check mesh configuration files or directories (.yaml, .yml, .json); exit 0 valid, 1 invalid, 2 usage error')
    .argument('<paths...>', 'files or directories to validate together')
    .option('-o, --output <format>', 'text or json', 'text')
    .option('--max-file-bytes <n>', `largest file accepted (default ${DEFAULT_MAX_FILE_BYTES})`)
    .option('-q, --quiet', 'print errors only (no warnings, no summary)')
    .action(async (paths: string[], options: ValidateOptions) => {
      if (options.output !== 'text' && options.output !== 'json') {
        process.stderr.write(`weft validate: --output must be text or json, not ${JSON.stringify(options.output)}\n`);
        process.exitCode = 2;
        return;
      }
      let maxFileBytes: number | undefined;
      if (options.maxFileBytes !== undefined) {
        maxFileBytes = Number(options.maxFileBytes);
        if (!Number.isInteger(maxFileBytes) || maxFileBytes <= 0) {
          process.stderr.write(`weft validate: --max-file-bytes must be a positive integer, not ${JSON.stringify(options.maxFileBytes)}\n`);
          process.exitCode = 2;
          return;
        }
      }
      const { result, sources } = await loadConfigFilesWithSources(paths, maxFileBytes !== undefined ? { maxFileBytes } : {});
      const missing = result.ok ? [] : result.error.filter((i) => i.code === 'FILE_NOT_FOUND');
      if (options.output === 'json') {
        process.stdout.write(JSON.stringify(validationReport(result)) + '\n');
      } else {
        const texts = new Map(sources.map((s) => [s.source, s.text]));
        const shown: ConfigIssue[] = result.ok ? [] : [...result.error];
        if (!options.quiet) shown.push(...result.warnings);
        const out: string[] = [];
        for (const issue of shown) {
          if (issue.code === 'FILE_NOT_FOUND') continue;
          out.push(formatIssue(issue, texts.get(issue.file)), '');
        }
        if (!options.quiet && missing.length === 0) {
          const warnings = plural(result.warnings.length, 'warning');
          if (result.ok) out.push(`valid: ${plural(result.value.resourceCount, 'resource')} in ${plural(result.stats.files, 'file')}, ${warnings}`);
          else out.push(`invalid: ${plural(result.error.filter((i) => i.code !== 'TOO_MANY_ISSUES').length, 'error')}, ${warnings} in ${plural(result.stats.files, 'file')}`);
        }
        if (out.length > 0) process.stdout.write(out.join('\n') + '\n');
      }
      for (const m of missing) process.stderr.write(`weft validate: ${m.file}: no such file or directory\n`);
      process.exitCode = missing.length > 0 ? 2 : result.ok ? 0 : 1;
    });
}
