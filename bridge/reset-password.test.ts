/** `npm run reset-password`: a new printed password for a lost admin, their sessions ended, on a stopped embedded store. */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createAgentAccount, checkAgentLogin, resetAgentPassword } from './auth/agent-accounts.ts';
import { LowdbStore } from './store/lowdb/lowdb-store.ts';
import { silentLogger } from './logger.ts';

const ROOT = join(import.meta.dirname, '..');
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function run(dataDir: string, args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bridge', 'reset-password-main.ts'), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', DATA_DIR: dataDir, LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out })));
}

describe('reset-password', () => {
  it('prints a new password that signs in, ends the old sessions and reactivates; names the admins for an unknown name', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'anon-chat-reset-'));
    dirs.push(dataDir);
    const store = new LowdbStore({ dataDir, logger: silentLogger() });
    await store.open();
    const boss = await createAgentAccount(store, { name: 'boss', displayName: 'Boss', role: 'admin', password: 'forgotten-password' }, new Date());
    await expect(resetAgentPassword(store, 'nobody')).rejects.toThrow('no agent named "nobody"; admins: "boss"');
    await store.close();

    const { code, out } = await run(dataDir, ['--name', 'boss']);
    expect(code, out).toBe(0);
    const password = /password: (\S+)/.exec(out)?.[1];
    expect(password).toBeDefined();

    const reopened = new LowdbStore({ dataDir, logger: silentLogger() });
    await reopened.open();
    try {
      expect(await checkAgentLogin(reopened, 'boss', 'forgotten-password')).toBeUndefined();
      expect(await checkAgentLogin(reopened, 'boss', password!)).toMatchObject({ id: boss.id, active: true, sessionEpoch: 1 });
    } finally {
      await reopened.close();
    }
  });
});
