/**
 * The bytes of attachments on the embedded engine: content-addressed files under `DATA_DIR/files/<conversation>/`,
 * named by the SHA-256 of their content (`<sha256>`, thumbnail `<sha256>.thumb`). A file is written to a temp name,
 * fsynced, renamed and its directory fsynced before its attachment is journaled, so a journaled attachment always
 * has its file; a crash in between leaves only a temp file or an unreferenced file, both removed at open.
 * No name from outside ever reaches a path: the folder is the store's file key of the conversation, the file the hash.
 */
import { readFile, readdir, rm, rmdir, unlink, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { TEMP_MARKER, fsyncDir, writeFileAtomic } from './atomic-json-file.ts';
import type { AttachmentVariant } from '../store.ts';

/** Folder of attachment files inside the data directory. */
export const FILES_DIR = 'files';
const THUMBNAIL_SUFFIX = '.thumb';
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Reads and writes attachment files of one data directory. */
export class AttachmentFiles {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, FILES_DIR);
  }

  private path(folder: string, sha256: string, variant: AttachmentVariant): string {
    if (!SHA256_HEX.test(sha256)) throw new Error(`not a SHA-256 content address: ${sha256}`);
    return join(this.root, folder, variant === 'content' ? sha256 : `${sha256}${THUMBNAIL_SUFFIX}`);
  }

  /** Writes the content (and thumbnail) durably; writing the same content again replaces it with equal bytes. */
  async write(folder: string, sha256: string, content: Uint8Array, thumbnail?: Uint8Array): Promise<void> {
    const dir = join(this.root, folder);
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(this.path(folder, sha256, 'content'), content, false);
    if (thumbnail) await writeFileAtomic(this.path(folder, sha256, 'thumbnail'), thumbnail, false);
    await fsyncDir(dir);
    // The folder itself may be new: its entry in files/ must survive a crash too.
    await fsyncDir(this.root);
  }

  /** The stored bytes; throws ENOENT when the file is missing. */
  read(folder: string, sha256: string, variant: AttachmentVariant): Promise<Buffer> {
    return readFile(this.path(folder, sha256, variant));
  }

  /** Deletes both files of a content address (missing ones are fine), and the folder once it is empty. */
  async remove(folder: string, sha256: string): Promise<void> {
    const dir = join(this.root, folder);
    await rm(this.path(folder, sha256, 'content'), { force: true });
    await rm(this.path(folder, sha256, 'thumbnail'), { force: true });
    await removeIfEmpty(dir);
    await fsyncDir(dir).catch(() => undefined);
  }

  /**
   * At open, after the journal was replayed: deletes temp files (a write cut by a crash) and files no attachment
   * refers to (written, then the crash came before their attachment was journaled; or an unfinished erasure).
   * `live(folder, sha256)` tells whether an attachment still refers to a content address. Returns how many went.
   */
  async sweep(live: (folder: string, sha256: string) => boolean): Promise<number> {
    await mkdir(this.root, { recursive: true });
    let removed = 0;
    for (const folder of await readdir(this.root)) {
      const dir = join(this.root, folder);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        const sha256 = name.endsWith(THUMBNAIL_SUFFIX) ? name.slice(0, -THUMBNAIL_SUFFIX.length) : name;
        if (!name.includes(TEMP_MARKER) && SHA256_HEX.test(sha256) && live(folder, sha256)) continue;
        await unlink(join(dir, name));
        removed++;
      }
      if (removed > 0) await fsyncDir(dir);
      await removeIfEmpty(dir);
    }
    if (removed > 0) await fsyncDir(this.root);
    return removed;
  }
}

async function removeIfEmpty(dir: string): Promise<void> {
  try {
    await rmdir(dir);
  } catch {
    // Not empty (another content address lives there) or gone already.
  }
}
