import type { Scenario } from '../lib/scenario.ts';

/** Scenario 8 (pending). */
export const widgetScenario: Scenario = {
  id: 8,
  title: 'pending',
  async run() {
    throw new Error('not written yet');
  },
};
