// The dependency-direction rule: the lint configuration refuses imports against the layering of
// docs/ARCHITECTURE.md (e.g. the proxy importing the control plane) and allows the permitted ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ESLint } from 'eslint';

const root = new URL('../..', import.meta.url).pathname;

async function lint(filePath: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(code, { filePath: root + filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const forbidden: Array<[string, string]> = [
  ['src/proxy/probe.ts', "import { x } from '../control/registry.ts';"],
  ['src/proxy/layers/probe.ts', "import { x } from '../../control/server.ts';"],
  ['src/control/probe.ts', "import { x } from '../proxy/runtime/snapshot.ts';"],
  ['src/core/probe.ts', "import { x } from '../config/index.ts';"],
  ['src/config/probe.ts', "import { x } from '../identity/ca.ts';"],
  ['src/xds/probe.ts', "import { x } from '../control/server.ts';"],
  ['src/identity/probe.ts', "import { x } from '../proxy/index.ts';"],
  ['src/telemetry/probe.ts', "import { x } from '../config/index.ts';"],
  ['src/proxy/probe.ts', "import { x } from '../control';"],
  ['src/control/probe.ts', "import { x } from '../../src/proxy';"],
];

for (const [file, code] of forbidden) {
  test(`lint refuses: ${file}: ${code}`, async () => {
    const messages = await lint(file, `${code}\nexport const y = x;\n`);
    assert.equal(messages.length, 1, `expected one dependency-direction error, got ${JSON.stringify(messages)}`);
    assert.match(messages[0]!, /must not import/);
  });
}

const allowed: Array<[string, string]> = [
  ['src/proxy/probe.ts', "import { x } from '../identity/tls.ts';"],
  ['src/control/probe.ts', "import { x } from '../xds/server.ts';"],
  ['src/cli/probe.ts', "import { x } from '../control/server.ts';"],
  ['src/config/probe.ts', "import { x } from '../core/errors.ts';"],
  ['src/proxy/inbound/probe.ts', "import { x } from '../layers/timeout.ts';"],
];

for (const [file, code] of allowed) {
  test(`lint allows: ${file}: ${code}`, async () => {
    assert.deepEqual(await lint(file, `${code}\nexport const y = x;\n`), []);
  });
}
