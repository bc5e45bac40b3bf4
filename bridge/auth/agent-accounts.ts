/** Agent accounts: creation with a hashed password, login check, and the first-start bootstrap account. */
import { StoreError, type AgentRecord, type Store } from '../store/store.ts';
import { randomId } from '../ids.ts';
import { generatePassword, hashPassword, verifyPassword } from './password.ts';

/** Creates an agent with a scrypt-hashed password and returns its record. */
export async function createAgentAccount(store: Store, name: string, password: string, now: Date): Promise<AgentRecord> {
  const record: AgentRecord = {
    id: randomId(),
    name,
    passwordHash: await hashPassword(password),
    createdAt: now.toISOString(),
  };
  await store.createAgent(record);
  return record;
}

// A fixed hash to verify against when the name is unknown, so a login takes as long for a missing agent as for a
// wrong password (no user enumeration by timing).
const dummyHash = hashPassword('not-a-real-password');

/** The agent whose name and password match, or undefined. */
export async function checkAgentLogin(store: Store, name: string, password: string): Promise<AgentRecord | undefined> {
  const agent = await store.getAgentByName(name);
  if (!agent) {
    await verifyPassword(password, await dummyHash);
    return undefined;
  }
  return (await verifyPassword(password, agent.passwordHash)) ? agent : undefined;
}

/**
 * On a store without agents, creates the bootstrap agent (once, however many nodes start together). Returns its credentials when it was created (the caller
 * prints the password once); undefined when agents already exist.
 */
export async function bootstrapAgent(
  store: Store,
  options: { name: string; password?: string },
  now: Date,
): Promise<{ agent: AgentRecord; password: string; generated: boolean } | undefined> {
  if ((await store.countAgents()) > 0) return undefined;
  const password = options.password ?? generatePassword();
  try {
    const agent = await createAgentAccount(store, options.name, password, now);
    return { agent, password, generated: options.password === undefined };
  } catch (error) {
    // Nodes of a cluster starting together all see no agent; the store's unique name lets one create it, and the
    // others must not print a password that was never stored.
    if (error instanceof StoreError && error.code === 'conflict') return undefined;
    throw error;
  }
}
