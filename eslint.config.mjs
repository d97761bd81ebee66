// ESLint over the page (www/) and the browser tests (tests/browser/), run by `npm run lint`.
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['www/pkg/**', 'dist/**', 'target/**', 'node_modules/**', 'test-artifacts/**'] },
  js.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2024, sourceType: 'module' },
    rules: {
      // `_` marks an argument a callback's signature requires but it does not use.
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  { files: ['www/**/*.js'], languageOptions: { globals: globals.browser } },
  { files: ['www/worker.js'], languageOptions: { globals: globals.worker } },
  // The tests run in Node and hand functions to the page (page.evaluate), which run there.
  { files: ['tests/browser/**/*.mjs', '*.mjs', 'scripts/*.mjs'], languageOptions: { globals: { ...globals.node, ...globals.browser } } },
];
