/**
 * `npm run typecheck` and `npm run lint` over one TypeScript program: `tsc --noEmit`'s diagnostics from a program
 * built from tsconfig.json, then ESLint with eslint.config.js, whose type-checked rules are handed that same program
 * instead of building their own through the project service. Parsing, binding and most type checking then happen
 * once; the rules and their options are those of eslint.config.js unchanged.
 */
import { ESLint } from 'eslint';
import ts from 'typescript';

/** What each checker found: its exit status as the CLI would give it, and its report. */
export interface StaticCheckResults {
  typecheck: { ok: boolean; report: string };
  lint: { ok: boolean; report: string };
}

/** Builds the program of `root`/tsconfig.json as `tsc --noEmit` does. */
function tsconfigProgram(root: string): { program: ts.Program; configDiagnostics: readonly ts.Diagnostic[] } {
  const configPath = ts.findConfigFile(root, (file) => ts.sys.fileExists(file), 'tsconfig.json');
  if (configPath === undefined) throw new Error(`no tsconfig.json under ${root}`);
  const read = ts.readConfigFile(configPath, (file) => ts.sys.readFile(file));
  if (read.error) return { program: ts.createProgram([], {}), configDiagnostics: [read.error] };
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, root, undefined, configPath);
  const program = ts.createProgram({
    rootNames: parsed.fileNames,
    options: parsed.options,
    projectReferences: parsed.projectReferences,
    configFileParsingDiagnostics: ts.getConfigFileParsingDiagnostics(parsed),
  });
  return { program, configDiagnostics: parsed.errors };
}

/** Runs the typecheck, then the lint with `--max-warnings 0` over `root`, sharing one program between them. */
export async function runStaticChecks(root: string): Promise<StaticCheckResults> {
  const { program, configDiagnostics } = tsconfigProgram(root);
  const diagnostics = [...configDiagnostics, ...ts.getPreEmitDiagnostics(program)];
  const host: ts.FormatDiagnosticsHost = {
    getCanonicalFileName: (name) => name,
    getCurrentDirectory: () => root,
    getNewLine: () => '\n',
  };
  const typecheck = { ok: diagnostics.length === 0, report: ts.formatDiagnostics(diagnostics, host) };

  const eslint = new ESLint({
    cwd: root,
    // Only the TypeScript files have type information (eslint.config.js turns it off for JavaScript); a .ts file
    // outside tsconfig.json stays a parse error, as it is for the project service. The pattern covers every extension
    // typescript-eslint's config lints with types (scripts/build-stamp.d.mts too): one it missed would fall back to
    // the project service, which builds a second program of the whole repository for that one file.
    overrideConfig: [
      { files: ['**/*.ts', '**/*.mts', '**/*.cts'], languageOptions: { parserOptions: { projectService: false, programs: [program] } } },
    ],
  });
  const results = await eslint.lintFiles(['.']);
  const problems = results.reduce((sum, r) => sum + r.errorCount + r.warningCount, 0);
  const report = await (await eslint.loadFormatter('stylish')).format(results);
  return { typecheck, lint: { ok: problems === 0, report } };
}
