// @ts-check
/** ESLint flat config: typescript-eslint's type-checked recommended rules over the repository, run at zero warnings. */
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'test-artifacts/', 'bench/results/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', '*.mjs', 'scripts/*.mjs', 'demo/*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // The same convention as tsc's noUnusedLocals: a leading underscore names what is left out on purpose
      // (a rest sibling dropped from a copy, a parameter an interface passes).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // `async` here marks a contract callers await (the Store, transports, token signing): a body that needs no
      // await today is not a bug, and dropping `async` would turn its throws into synchronous ones.
      '@typescript-eslint/require-await': 'off',
      // Passing on a rejection we were handed (a transport's error, re-created in this realm) keeps its reason
      // as it came; wrapping it in a new Error would lose the TransportError shape callers check.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
    },
  },
  {
    // Tests read JSON bodies and socket acks as loose data and assert their shape with expect(); a wrong shape
    // fails the assertion, which is the check these rules would otherwise ask for by hand.
    files: ['**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
);
