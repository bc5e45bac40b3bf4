import { describe, expect, it } from 'vitest';
import { readXmtpConsoleConfig, supportKeyStorageKey } from './xmtp-console-config.ts';

/** A Storage over a Map (the console's localStorage). */
class MemoryStorage implements Storage {
  #items = new Map<string, string>();
  get length(): number {
    return this.#items.size;
  }
  clear(): void {
    this.#items.clear();
  }
  getItem(key: string): string | null {
    return this.#items.get(key) ?? null;
  }
  key(index: number): string | null {
    return [...this.#items.keys()][index] ?? null;
  }
  removeItem(key: string): void {
    this.#items.delete(key);
  }
  setItem(key: string, value: string): void {
    this.#items.set(key, value);
  }
}

const at = (url: string): Location => {
  const parsed = new URL(url);
  return { search: parsed.search, hash: parsed.hash, pathname: parsed.pathname } as Location;
};

describe('readXmtpConsoleConfig', () => {
  it('is off until asked, remembers ?xmtp=<env>, and ?xmtp=off turns it off', () => {
    const storage = new MemoryStorage();
    expect(readXmtpConsoleConfig(at('https://b.example/console/'), storage)).toBeUndefined();
    expect(readXmtpConsoleConfig(at('https://b.example/console/?xmtp=dev'), storage)).toEqual({ env: 'dev', identity: 'local' });
    expect(readXmtpConsoleConfig(at('https://b.example/console/'), storage)).toEqual({ env: 'dev', identity: 'local' });
    expect(readXmtpConsoleConfig(at('https://b.example/console/?xmtp=production&xmtp-wallet'), storage)).toEqual({
      env: 'production',
      identity: 'wallet',
    });
    expect(readXmtpConsoleConfig(at('https://b.example/console/?xmtp=mainnet-typo'), storage)?.env).toBe('production');
    expect(readXmtpConsoleConfig(at('https://b.example/console/?xmtp=off'), storage)).toBeUndefined();
    expect(readXmtpConsoleConfig(at('https://b.example/console/'), storage)).toBeUndefined();
  });

  it('stores a support key from the fragment and takes it out of the address bar', () => {
    const storage = new MemoryStorage();
    const replaced: string[] = [];
    const history = { replaceState: (_d: unknown, _t: string, url: string) => void replaced.push(url) } as History;
    const key = `0x${'AB'.repeat(32)}`;
    readXmtpConsoleConfig(at(`https://b.example/console/?xmtp=dev#xmtp-key=${key}`), storage, history);
    expect(storage.getItem(supportKeyStorageKey('dev'))).toBe(key.toLowerCase());
    expect(replaced).toEqual(['/console/?xmtp=dev']);
    // A malformed key is ignored.
    readXmtpConsoleConfig(at('https://b.example/console/?xmtp=local#xmtp-key=0x1234'), storage, history);
    expect(storage.getItem(supportKeyStorageKey('local'))).toBeNull();
  });
});
