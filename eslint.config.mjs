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
    files: ['test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-unused-expressions': 'off' },
  },
);
