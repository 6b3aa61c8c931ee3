// Lint configuration: typescript-eslint's recommended rules plus the dependency
// direction of docs/ARCHITECTURE.md, enforced with no-restricted-imports per folder.
import tseslint from 'typescript-eslint';

/** Which top-level src folders each src folder must not import. */
const forbidden = {
  core: ['config', 'identity', 'xds', 'control', 'proxy', 'telemetry', 'cli', 'dashboard'],
  config: ['identity', 'xds', 'control', 'proxy', 'telemetry', 'cli', 'dashboard'],
  identity: ['xds', 'control', 'proxy', 'cli', 'dashboard'],
  xds: ['identity', 'control', 'proxy', 'cli', 'dashboard'],
  telemetry: ['config', 'identity', 'xds', 'control', 'proxy', 'cli', 'dashboard'],
  control: ['proxy', 'cli', 'dashboard'],
  proxy: ['control', 'cli', 'dashboard'],
  dashboard: ['cli'],
};

function patternsFor(folder, banned) {
  // Relative imports from src/<folder>/**: any depth of ../ reaching a banned sibling.
  const groups = [];
  for (const target of banned) {
    groups.push({
      group: [`**/${target}`, `**/${target}/*`, `**/${target}/**`],
      message: `src/${folder} must not import src/${target} (dependency direction, see docs/ARCHITECTURE.md).`,
    });
  }
  return groups;
}

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'src/xds/generated/**', 'schemas/**', 'coverage/**', 'bench/results/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      'no-throw-literal': 'error',
    },
  },
  ...Object.entries(forbidden).map(([folder, banned]) => ({
    files: [`src/${folder}/**/*.ts`],
    ignores: [`src/${folder}/**/*.test.ts`],
    rules: {
      'no-restricted-imports': ['error', { patterns: patternsFor(folder, banned) }],
    },
  })),
);
