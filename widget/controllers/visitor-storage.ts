/**
 * Per-visitor persistence (token, outbox, cached history) in localStorage, keyed per bridge and site so two widgets
 * for different sites on one origin never share a visitor. Falls back to memory where storage is unavailable
 * (blocked third-party storage, Safari private mode, a full quota): the chat still works, it just forgets on reload.
 */

/** A tiny JSON key-value store. */
export interface PersistentStorage {
  read(key: string): unknown;
  write(key: string, value: unknown): void;
  remove(key: string): void;
}

/** localStorage as a {@link PersistentStorage}, with an in-memory fallback per key when it throws. */
export function browserStorage(): PersistentStorage {
  const memory = new Map<string, string>();
  const local = (): Storage | undefined => {
    try {
      return globalThis.localStorage;
    } catch {
      return undefined;
    }
  };
  return {
    read(key) {
      let raw: string | null | undefined = memory.get(key);
      if (raw === undefined) {
        try {
          raw = local()?.getItem(key);
        } catch {
          raw = null;
        }
      }
      if (raw == null) return undefined;
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        return undefined;
      }
    },
    write(key, value) {
      const raw = JSON.stringify(value);
      try {
        const storage = local();
        if (!storage) throw new Error('no storage');
        storage.setItem(key, raw);
        memory.delete(key);
      } catch {
        memory.set(key, raw);
      }
    },
    remove(key) {
      memory.delete(key);
      try {
        local()?.removeItem(key);
      } catch {
        // Nothing stored there to remove.
      }
    },
  };
}

/** The storage keys of one visitor of one site on one bridge. */
export function storageKeys(server: string, site: string): { token: string; outbox: string; history: string } {
  const prefix = `anon-chat:${server}|${site}:`;
  return { token: `${prefix}token`, outbox: `${prefix}outbox`, history: `${prefix}history` };
}
