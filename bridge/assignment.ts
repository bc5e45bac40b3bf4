/**
 * Round-robin auto-assignment: the choice of the next assignee (its on/off setting is cached with the other team
 * settings in `TeamAvailability`). Assigning itself happens in the conversation service, atomically with the message
 * that triggers it.
 */
import type { Store } from './store/store.ts';
import type { TeamAvailability } from './team-availability.ts';

/** Where the last round-robin choice is kept, so the turn passes on across nodes and restarts. */
const TURN_NAMESPACE = 'assignment';
const TURN_KEY = 'round-robin-last';

/**
 * The agent whose turn it is, when round-robin is on and `needed` (asked only then) says so: among the agents who
 * take chats now (Online, a console connected on any node, within business hours), the first after the last one
 * chosen in id order. Undefined when round-robin is off or nobody takes chats. Two nodes choosing at the same instant
 * may pick the same agent; the turn only steers fairness, and the store assigns atomically, so a conversation still
 * gets exactly one assignee.
 */
export async function nextRoundRobinAssignee(
  deps: { store: Store; availability: TeamAvailability },
  needed: () => Promise<boolean>,
): Promise<string | undefined> {
  if (!(await deps.availability.assignmentSettings()).roundRobin || !(await needed())) return undefined;
  const candidates = (await deps.availability.agentsTakingChats()).sort();
  if (candidates.length === 0) return undefined;
  const last = await deps.store.getRecord<string>(TURN_NAMESPACE, TURN_KEY);
  const next = candidates.find((id) => last === undefined || id > last) ?? candidates[0]!;
  await deps.store.putRecord(TURN_NAMESPACE, TURN_KEY, next);
  return next;
}
