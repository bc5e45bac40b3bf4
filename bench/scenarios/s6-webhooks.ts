import type { Scenario } from '../lib/scenario.ts';

/** Scenario 6 (pending). */
export const webhookScenario: Scenario = {
  id: 6,
  title: 'pending',
  async run() {
    throw new Error('not written yet');
  },
};
