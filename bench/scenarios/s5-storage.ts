import type { Scenario } from '../lib/scenario.ts';

/** Scenario 5 (pending). */
export const storageScenario: Scenario = {
  id: 5,
  title: 'pending',
  async run() {
    throw new Error('not written yet');
  },
};
