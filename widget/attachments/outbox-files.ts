/**
 * The bytes of files attached while offline, kept in IndexedDB by upload key (the outbox entry in localStorage names
 * them; Blobs do not fit there) until the outbox has their uploaded attachments, across reloads and closed tabs.
 */

const DATABASE = 'anon-chat-outbox-files';
const FILES = 'files';

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

/** The files waiting in the outbox. */
export class OutboxFiles {
  #database: Promise<IDBDatabase> | undefined;
  /** This page's files as attached: used first, and the only copy where IndexedDB is unavailable (some private modes). */
  readonly #memory = new Map<string, Blob>();

  #open(): Promise<IDBDatabase> {
    this.#database ??= new Promise((resolve, reject) => {
      const open = indexedDB.open(DATABASE, 1);
      open.onupgradeneeded = () => open.result.createObjectStore(FILES);
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error ?? new Error('IndexedDB unavailable'));
    });
    return this.#database;
  }

  async #files(mode: IDBTransactionMode): Promise<IDBObjectStore> {
    return (await this.#open()).transaction(FILES, mode).objectStore(FILES);
  }

  /** Keeps `file` under `key`; resolves once IndexedDB has it (or could not take it). */
  async put(key: string, file: Blob): Promise<void> {
    this.#memory.set(key, file);
    try {
      await request((await this.#files('readwrite')).put(file, key));
    } catch {
      // This page still has the file; only a reload before it is uploaded loses it (the message then fails, and says so).
    }
  }

  /** The file kept under `key`, if any. */
  async get(key: string): Promise<Blob | undefined> {
    const kept = this.#memory.get(key);
    if (kept) return kept;
    try {
      const file: unknown = await request((await this.#files('readonly')).get(key));
      return file instanceof Blob ? file : undefined;
    } catch {
      return undefined;
    }
  }

  /** Deletes the files under `keys` (uploaded, discarded, reset). */
  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.#memory.delete(key);
    try {
      const files = await this.#files('readwrite');
      await Promise.all(keys.map((key) => request(files.delete(key))));
    } catch {
      // Left behind at worst: bytes under a key no outbox entry names any more.
    }
  }
}
