/**
 * `npm start` (scripts/start.mjs): runs the existing build and never builds unless asked (`--rebuild`, which reports a
 * bad setting before building); `prepare`'s `build.mjs --if-tools` passes without the build tools. The real scripts
 * in child processes; the "starts" case needs dist/ to be a build of the current sources, which `npm test` makes
 * first (on its own: `npm run build`).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildIsCurrent, ROOT, writeStamp } from '../scripts/build-stamp.mjs';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'anon-chat-start-'));
  dirs.push(dir);
  return dir;
}

/** Modification times of what a build would rewrite. */
async function buildOutputTimes(): Promise<number[]> {
  return Promise.all(['dist/build-stamp.json', 'dist/bridge/main.js', 'dist/widget/anon-chat.js'].map(async (f) => (await stat(join(ROOT, f))).mtimeMs));
}

/** A folder holding a copy of scripts/ and nothing else: no dist/, no node_modules (no build tools). */
async function bareCopy(): Promise<string> {
  const root = await tempDir();
  await cp(join(ROOT, 'scripts'), join(root, 'scripts'), { recursive: true });
  return root;
}

/** Every path under `root`, to show that a run wrote nothing. */
async function tree(root: string): Promise<string[]> {
  return (await readdir(root, { recursive: true })).sort();
}

/** Runs `node scripts/start.mjs args` until `until` matches its output or it exits. */
function runStart(args: string[], env: Record<string, string>, until: RegExp) {
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'start.mjs'), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', HOST: '127.0.0.1', LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const seen = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start printed nothing matching ${until} within 60 s:\n${output}`)), 60_000);
    const onData = (chunk: string): void => {
      output += chunk;
      if (until.test(output)) {
        clearTimeout(timer);
        resolve(output);
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      resolve(output);
    });
  });
  return { child, exited, seen, output: () => output };
}

describe('npm start', () => {
  it('starts the bridge from the existing build when the sources did not change', async () => {
    expect(buildIsCurrent(), 'dist/ should be a build of the current sources (npm test builds first; alone: npm run build)').toBe(true);
    const before = await buildOutputTimes();
    const dataDir = await tempDir();
    const start = runStart([], { PORT: '0', DATA_DIR: dataDir, AGENT_BOOTSTRAP_PASSWORD: 'start-admin-password' }, /anon-chat listening on http:\/\/\S+/);
    try {
      const output = await start.seen;
      expect(output).toMatch(/anon-chat listening on http:\/\/127\.0\.0\.1:\d+/);
      expect(output).not.toContain('building');
      expect(await buildOutputTimes()).toEqual(before);
      start.child.kill('SIGTERM');
      expect(await start.exited).toBe(0);
    } finally {
      if (start.child.exitCode === null && start.child.signalCode === null) start.child.kill('SIGKILL');
    }
  }, 90_000);

  it('reports a bad PORT before it would build, and exits with an error', async () => {
    const before = await buildOutputTimes();
    // --rebuild: the path that builds; the check must come first and stop it.
    const start = runStart(['--rebuild'], { PORT: '70000', DATA_DIR: await tempDir() }, /PORT/);
    const output = await start.seen;
    expect(await start.exited).toBe(1);
    expect(output).toMatch(/PORT: .*65535/);
    expect(output).not.toContain('building');
    expect(await buildOutputTimes()).toEqual(before);
  }, 90_000);

  it('refuses to start without a current build: exits 1 with the hint, builds and writes nothing', async () => {
    const root = await bareCopy();
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: '0', DATA_DIR: join(root, 'data') };
    const bare = await tree(root);
    const missing = spawnSync(process.execPath, [join(root, 'scripts', 'start.mjs')], { cwd: root, env, encoding: 'utf8' });
    expect(missing.status, missing.stderr).toBe(1);
    expect(missing.stderr).toContain('run `npm run build` (or `npm start -- --rebuild`)');
    expect(missing.stdout).not.toContain('building');
    expect(await tree(root)).toEqual(bare);

    // A stamp of other sources: dist/ is stale.
    await mkdir(join(root, 'dist'));
    await writeFile(join(root, 'dist', 'build-stamp.json'), '{"sources":"old","outputs":"old"}\n');
    const before = await tree(root);
    const stale = spawnSync(process.execPath, [join(root, 'scripts', 'start.mjs')], { cwd: root, env, encoding: 'utf8' });
    expect(stale.status, stale.stderr).toBe(1);
    expect(stale.stderr).toContain('run `npm run build` (or `npm start -- --rebuild`)');
    expect(await tree(root)).toEqual(before);
  });

  it('passes `prepare` (build.mjs --if-tools) with a note when the build tools are not installed', async () => {
    const root = await bareCopy();
    const before = await tree(root);
    const run = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--if-tools'], { cwd: root, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^anon-chat: build tools not installed \(no vite, tsx, cem; .*\): not building dist\/\n$/);
    expect(await tree(root)).toEqual(before);
  });

  it('counts a build as current until a source that goes into dist/ or a built file changes', async () => {
    const root = await tempDir();
    await mkdir(join(root, 'widget'), { recursive: true });
    await mkdir(join(root, 'dist', 'widget'), { recursive: true });
    await writeFile(join(root, 'widget', 'anon-chat.ts'), 'export const a = 1;\n');
    await writeFile(join(root, 'widget', 'anon-chat.test.ts'), 'test 1\n');
    await writeFile(join(root, 'dist', 'widget', 'anon-chat.js'), 'built\n');
    expect(buildIsCurrent(root), 'no stamp yet').toBe(false);
    writeStamp(root);
    expect(buildIsCurrent(root)).toBe(true);
    await writeFile(join(root, 'widget', 'anon-chat.test.ts'), 'test 2\n');
    expect(buildIsCurrent(root), 'a test file is not built').toBe(true);
    await writeFile(join(root, 'widget', 'anon-chat.ts'), 'export const a = 2;\n');
    expect(buildIsCurrent(root), 'a changed source').toBe(false);
    writeStamp(root);
    await writeFile(join(root, 'dist', 'widget', 'anon-chat.js'), 'built by hand, longer\n');
    expect(buildIsCurrent(root), 'a changed build output').toBe(false);
  });
});
