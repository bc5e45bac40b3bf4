import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleNodeEntry } from '../scripts/build-bridge.ts';
import { connectVisitor, START_DEADLINE_MS } from './testing/index.ts';

const ROOT = join(import.meta.dirname, '..');
// Two folders below the root, like dist/bridge/main.js (`npm start`), in a folder of its own so a concurrent
// `npm start` is not disturbed.
const outDir = join(ROOT, 'dist', `bundle-test-${process.pid}`);
const dataDirs: string[] = [];

afterAll(async () => {
  await rm(outDir, { recursive: true, force: true });
  for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
});

describe('bundled bridge (what `npm start` runs)', () => {
  it('starts under plain node, prints its URLs, serves the demo, issues sessions and stops cleanly', async () => {
    const bundle = join(outDir, 'main.js');
    bundleNodeEntry('bridge/main.ts', bundle);
    const dataDir = await mkdtemp(join(tmpdir(), 'anon-chat-bundle-'));
    dataDirs.push(dataDir);
    const child = spawn(process.execPath, ['--enable-source-maps', bundle], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOST: '127.0.0.1',
        PORT: '0',
        DATA_DIR: dataDir,
        LOG_LEVEL: 'error',
        AGENT_BOOTSTRAP_PASSWORD: 'bundle-admin-password',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`waited ${START_DEADLINE_MS} ms for the bundled bridge (${bundle}) to print "anon-chat listening on"; its output so far:\n${output}`)),
          START_DEADLINE_MS,
        );
        child.stdout.on('data', () => {
          const match = /anon-chat listening on (http:\/\/\S+)/.exec(output);
          if (match?.[1]) {
            clearTimeout(timer);
            resolve(match[1]);
          }
        });
        void exited.then((code) => reject(new Error(`exited with ${code} before listening:\n${output}`)));
      });
      expect(output).toContain(`${url}/demo/`);
      expect(output).toContain(`${url}/console/`);
      // Static roots are found relative to the bundle's location: the demo page must be served from demo/.
      const demo = await fetch(`${url}/demo/`);
      expect(demo.status).toBe(200);
      expect(await demo.text()).toContain('<anon-chat');
      expect((await fetch(`${url}/health`)).status).toBe(200);
      const visitor = await connectVisitor(url);
      expect(visitor.session.token.split('.')).toHaveLength(3);
      visitor.close();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
