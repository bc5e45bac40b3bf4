/**
 * A secret kept in a file of the data directory (`secrets.json`, `vapid.json`): generated once and written durably
 * (mode 0600, fsync), never regenerated over a damaged file — a new value would silently sign everyone out or end
 * every push subscription, so a damaged file is an error naming it.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { z } from 'zod';

/** What the operator is told after the file's path when it cannot be read. */
export interface SecretFileRemedy {
  notJson: string;
  invalid: string;
}

/** The value in `path`, created from `generate()` when the file does not exist yet. */
export function readOrCreateSecretFile<T>(path: string, schema: z.ZodType<T>, generate: () => T, remedy: SecretFileRemedy): T {
  mkdirSync(dirname(path), { recursive: true });
  const existing = read(path, schema, remedy);
  if (existing) return existing;
  const fresh = generate();
  let fd: number;
  try {
    // O_EXCL: two processes starting together must not each write a different value.
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      const raced = read(path, schema, remedy);
      if (raced) return raced;
    }
    throw error;
  }
  try {
    writeSync(fd, JSON.stringify(fresh, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return fresh;
}

function read<T>(path: string, schema: z.ZodType<T>, remedy: SecretFileRemedy): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${path} ${remedy.notJson}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new Error(`${path} ${remedy.invalid}`);
  return parsed.data;
}
