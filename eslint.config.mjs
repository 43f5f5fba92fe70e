import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.local/**', '.prof/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        require: 'readonly',
        module: 'readonly',
        __dirname: 'readonly',
        console: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'bullmq', message: 'Only packages/queue touches BullMQ.' }] },
      ],
    },
  },
  { files: ['packages/queue/**'], rules: { 'no-restricted-imports': 'off' } },
  // Tests look at what the queue left in Redis through BullMQ's reader, in this one helper only.
  { files: ['test/helpers/queue-inspector.ts'], rules: { 'no-restricted-imports': 'off' } },
  {
    // What the API, scheduler and CLI load never loads the data path (native code, the batch, writers);
    // test/unit/light-entry-points.test.ts checks the same at run time.
    files: [
      'packages/core/**',
      'packages/store/**',
      'packages/queue/**',
      'packages/operations/**',
      'packages/destinations/registry/**',
      'packages/destinations/*/src/*-plugin.ts',
      'services/api/**',
      'services/scheduler/**',
      'services/cli/**',
    ],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: '@bx/native',
              message: 'Only the data path (packages/batch, clickhouse, destinations) loads native code.',
            },
            { name: '@bx/batch', allowTypeImports: true, message: 'The batch loads native code: types only here.' },
            {
              name: '@bx/clickhouse',
              allowTypeImports: true,
              message: 'Use @bx/clickhouse/ping: the source loads native code.',
            },
            ...['@bx/destination-s3', '@bx/destination-snowflake'].map((name) => ({
              name,
              allowTypeImports: true,
              message: `Use ${name}/plugin (or the registry): the package's main entry loads its writer.`,
            })),
          ],
        },
      ],
    },
  },
  {
    files: ['test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-unused-expressions': 'off' },
  },
);
