// Command-line options shared by the e2e programs: --quick, --seconds N, --only a,b, --profile DIR.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';

export interface E2eOptions {
  /** Shorter runs (2 s per measurement). */
  readonly quick: boolean;
  /** Length of each max-throughput run. */
  readonly seconds: number;
  /** Paths to run (keys), or every path when undefined. */
  readonly only: ReadonlySet<string> | undefined;
  /** Where to keep the weft proxies' CPU profiles, when profiling. */
  readonly profileDir: string | undefined;
}

export function parseE2eOptions(argv: string[] = process.argv.slice(2)): E2eOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      seconds: { type: 'string' },
      only: { type: 'string' },
      profile: { type: 'string' },
    },
    strict: false,
  });
  const quick = values.quick === true;
  return {
    quick,
    seconds: Number(values.seconds ?? (quick ? 2 : 3)),
    only: typeof values.only === 'string' ? new Set(values.only.split(',')) : undefined,
    profileDir: typeof values.profile === 'string' ? resolve(values.profile) : undefined,
  };
}

/** Progress lines go to stderr, so stdout keeps only the tables and the JSON line. */
export const log = (s: string): void => void process.stderr.write(`${s}\n`);
