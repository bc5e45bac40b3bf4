/**
 * Round-robin auto-assignment: its setting (a durable record, shared by every node) and the choice of the next
 * assignee. Assigning itself happens in the conversation service, atomically with the message that triggers it.
 */
import type { AssignmentSettings } from '../protocol/assignment.ts';
import type { Store } from './store/store.ts';
import { SETTINGS_RECORDS, type TeamAvailability } from './team-availability.ts';

const SETTINGS_KEY = 'assignment';
/** Where the last round-robin choice is kept, so the turn passes on across nodes and restarts. */
const TURN_NAMESPACE = 'assignment';
const TURN_KEY = 'round-robin-last';

const DEFAULT_SETTINGS: AssignmentSettings = { roundRobin: false };

/** The team's assignment settings (round-robin is off until an admin turns it on). */
export async function assignmentSettings(store: Store): Promise<AssignmentSettings> {
  const stored = await store.getRecord<Partial<AssignmentSettings>>(SETTINGS_RECORDS, SETTINGS_KEY);
  return { roundRobin: stored?.roundRobin === true };
}

/** Saves the team's assignment settings. */
export async function saveAssignmentSettings(store: Store, settings: AssignmentSettings): Promise<AssignmentSettings> {
  const next = { ...DEFAULT_SETTINGS, ...settings };
  await store.putRecord(SETTINGS_RECORDS, SETTINGS_KEY, next);
  return next;
}

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
  if (!(await assignmentSettings(deps.store)).roundRobin || !(await needed())) return undefined;
  const candidates = (await deps.availability.agentsTakingChats()).sort();
  if (candidates.length === 0) return undefined;
  const last = await deps.store.getRecord<string>(TURN_NAMESPACE, TURN_KEY);
  const next = candidates.find((id) => last === undefined || id > last) ?? candidates[0]!;
  await deps.store.putRecord(TURN_NAMESPACE, TURN_KEY, next);
  return next;
}
