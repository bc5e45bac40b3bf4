/**
 * `holdNextRead`: a real store whose next read of one record answers only when the test says so, having read the
 * record as it was when asked — for tests of a read that a write overtakes.
 */
import type { Store } from '../store/store.ts';

/** A read held by `holdNextRead`: `reached` resolves once it has read the record; `release` lets it answer. */
export interface HeldRead {
  reached: Promise<void>;
  release(): void;
}

/** Holds the next `getRecord(namespace, key)` of `store` (only that one) after it has read; later reads pass. */
export function holdNextRead(store: Pick<Store, 'getRecord'>, namespace: string, key: string): HeldRead {
  const read = store.getRecord.bind(store);
  let reached!: () => void;
  let release!: () => void;
  const held: HeldRead = { reached: new Promise((resolve) => (reached = resolve)), release: () => release() };
  const released = new Promise<void>((resolve) => (release = resolve));
  store.getRecord = <T>(ns: string, k: string): Promise<T | undefined> => {
    if (ns !== namespace || k !== key) return read<T>(ns, k);
    store.getRecord = read;
    return (async () => {
      const value = await read<T>(ns, k);
      reached();
      await released;
      return value;
    })();
  };
  return held;
}
