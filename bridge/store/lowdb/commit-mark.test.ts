/**
 * The commit mark on its own: a fixed-size, CRC-checked encoding, and which journals it holds to account (the
 * current generation and, while it still exists, the one before), with real files for the writer.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../logger.ts';
import {
  COMMIT_MARK,
  COMMIT_MARK_BYTES,
  CommitMarkWriter,
  checkJournalsAgainstMark,
  decodeCommitMark,
  encodeCommitMark,
} from './commit-mark.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const path = (gen: number): string => `/data/journal-${gen}.jsonl`;

describe('commit mark', () => {
  it('encodes to one fixed-size readable line and rejects any flipped byte', () => {
    const mark = { generation: 12, committed: 987_654_321, previous: 16 * 1024 * 1024 };
    const buffer = encodeCommitMark(mark);
    expect(buffer.length).toBe(COMMIT_MARK_BYTES);
    expect(encodeCommitMark({ generation: 1, committed: 0, previous: 0 }).length).toBe(COMMIT_MARK_BYTES);
    expect(buffer.toString('latin1')).toMatch(/^anon-chat commit mark v1 gen=0+12 committed=0+987654321 previous=0+16777216 crc=[0-9a-f]{8}\n$/);
    expect(decodeCommitMark(buffer)).toEqual(mark);
    for (let i = 0; i < buffer.length - 1; i++) {
      const copy = Buffer.from(buffer);
      copy[i] = copy[i] === 0x31 ? 0x32 : 0x31;
      expect(decodeCommitMark(copy), `byte ${i}`).toBeUndefined();
    }
    expect(decodeCommitMark(buffer.subarray(0, 40))).toBeUndefined();
  });

  it('checks the current and, while it exists, the previous generation; older marks and zero lengths are not checked', () => {
    const mark = { generation: 5, committed: 1000, previous: 4000 };
    const check = (manifest: number, sizes: [number, number][]): void =>
      checkJournalsAgainstMark('/data', mark, manifest, new Map(sizes), path);
    // Crash mid-checkpoint: journals 4 and 5 both live.
    expect(() => check(4, [[4, 4000], [5, 1000]])).not.toThrow();
    expect(() => check(4, [[4, 4200], [5, 1500]])).not.toThrow(); // the mark lags: fine
    expect(() => check(4, [[4, 3999], [5, 1000]])).toThrow(/journal-4\.jsonl holds 3999 valid bytes, but 4000/);
    expect(() => check(4, [[5, 1000]])).toThrow(/journal-4\.jsonl is missing, but 4000/);
    // Checkpoint finished: journal 4 is folded and gone.
    expect(() => check(5, [[5, 1000]])).not.toThrow();
    expect(() => check(5, [[5, 999]])).toThrow(/journal-5\.jsonl holds 999 valid bytes, but 1000 bytes .* delete \/data\/commit-mark/);
    expect(() => check(5, [])).toThrow(/journal-5\.jsonl is missing/);
    // A mark older than the manifest (it lagged through a power loss) describes folded journals only.
    expect(() => check(6, [[6, 0]])).not.toThrow();
    expect(() => checkJournalsAgainstMark('/data', { generation: 5, committed: 0, previous: 0 }, 5, new Map(), path)).not.toThrow();
    expect(() => checkJournalsAgainstMark('/data', undefined, 5, new Map(), path)).not.toThrow();
  });

  it('the writer keeps the newest value, in place at a fixed size, and syncs it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'anon-chat-mark-'));
    dirs.push(dir);
    const writer = await CommitMarkWriter.open(dir, { generation: 1, committed: 0, previous: 0 }, silentLogger());
    const file = join(dir, COMMIT_MARK);
    const { ino } = await stat(file);
    for (let i = 1; i <= 100; i++) writer.record({ generation: 1, committed: i * 10, previous: 0 });
    writer.record({ generation: 2, committed: 0, previous: 1000 });
    await writer.sync();
    expect(decodeCommitMark(await readFile(file))).toEqual({ generation: 2, committed: 0, previous: 1000 });
    writer.record({ generation: 2, committed: 330, previous: 1000 });
    await writer.close();
    expect(decodeCommitMark(await readFile(file))).toEqual({ generation: 2, committed: 330, previous: 1000 });
    expect(await stat(file)).toMatchObject({ ino, size: COMMIT_MARK_BYTES });
  });
});
