/** Case 12: dependency versions at or above patched floors; npm audit clean or clearly unavailable. */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { compareVersions, installedCopies, meetsFloor, PATCHED_FLOORS, runAudit, versionsBelowFloor } from './dependencies.ts';

const root = join(import.meta.dirname, '..');

describe('dependencies', () => {
  it('compares versions numerically, pre-releases first', () => {
    expect(compareVersions('4.2.10', '4.2.9')).toBeGreaterThan(0);
    expect(compareVersions('5.0.0-beta.3', '5.0.0')).toBeLessThan(0);
    expect(compareVersions('1.12.0', '1.12.0')).toBe(0);
    expect(compareVersions('8.17.0', '8.17.1')).toBeLessThan(0);
    expect(meetsFloor('8.17.0', PATCHED_FLOORS['ws']!.floors)).toBe(false);
    expect(meetsFloor('7.5.10', PATCHED_FLOORS['ws']!.floors)).toBe(true);
    expect(meetsFloor('4.19.2', PATCHED_FLOORS['express']!.floors)).toBe(false);
    expect(meetsFloor('3.0.0', PATCHED_FLOORS['engine.io']!.floors)).toBe(false);
    expect(meetsFloor('7.0.0', PATCHED_FLOORS['engine.io']!.floors)).toBe(true);
    // Two patched lines within one major: each judged by its own floor.
    expect(meetsFloor('3.4.2', PATCHED_FLOORS['socket.io-parser']!.floors)).toBe(false);
    expect(meetsFloor('3.4.3', PATCHED_FLOORS['socket.io-parser']!.floors)).toBe(true);
    expect(meetsFloor('3.3.4', PATCHED_FLOORS['socket.io-parser']!.floors)).toBe(true);
    expect(meetsFloor('3.2.0', PATCHED_FLOORS['socket.io-parser']!.floors)).toBe(false);
    expect(meetsFloor('8.18.0', PATCHED_FLOORS['ws']!.floors)).toBe(true);
  });

  it('finds nested copies too (ws is installed twice)', () => {
    const ws = installedCopies(join(root, 'node_modules'), 'ws');
    expect(ws.length).toBeGreaterThanOrEqual(1);
    for (const name of ['socket.io-parser', 'engine.io', 'ws', 'express', 'axios']) {
      expect(installedCopies(join(root, 'node_modules'), name).length, name).toBeGreaterThan(0);
    }
  });

  it('every installed copy of socket.io-parser, engine.io, ws, express, axios (and friends) is at or above its patched floor', () => {
    expect(Object.keys(PATCHED_FLOORS)).toEqual(expect.arrayContaining(['socket.io-parser', 'engine.io', 'ws', 'express', 'axios']));
    expect(versionsBelowFloor(join(root, 'node_modules'))).toEqual([]);
  });

  it('npm audit --omit=dev: no high or critical advisory, or a clear "audit unavailable"', async ({ annotate }) => {
    const outcome = await runAudit(root);
    if (outcome.available) {
      expect(outcome.highOrCritical).toEqual([]);
      await annotate(`npm audit: ${JSON.stringify(outcome.counts)}`);
    } else {
      expect(outcome.reason.length).toBeGreaterThan(0);
      await annotate(`audit unavailable: ${outcome.reason}`, 'warning');
    }
  });
});
