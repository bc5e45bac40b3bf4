/** Agent accounts: creation with a hashed password (or none, until an invite is accepted), login check, the bootstrap admin. */
import type { AgentAccount, AgentRole } from '../../protocol/agents.ts';
import { StoreError, type AgentRecord, type Store } from '../store/store.ts';
import { randomId } from '../ids.ts';
import { generatePassword, hashPassword, verifyPassword } from './password.ts';

/** What a new agent account is made of; without a password nobody can sign in as it until one is set. */
export interface NewAgentAccount {
  name: string;
  displayName: string;
  role: AgentRole;
  password?: string;
  /** Where notification mails reach them. */
  email?: string;
}

/** Creates an agent (scrypt-hashed password) and returns its record; `conflict` when the name is taken. */
export async function createAgentAccount(store: Store, input: NewAgentAccount, now: Date): Promise<AgentRecord> {
  const record: AgentRecord = {
    id: randomId(),
    name: input.name,
    displayName: input.displayName,
    role: input.role,
    active: true,
    passwordHash: input.password === undefined ? '' : await hashPassword(input.password),
    sessionEpoch: 0,
    availability: 'online',
    ...(input.email !== undefined ? { email: input.email } : {}),
    createdAt: now.toISOString(),
  };
  await store.createAgent(record);
  return record;
}

/** An agent record as the REST API shows it: never the password hash or the session epoch. */
export function toAgentAccount(agent: AgentRecord): AgentAccount {
  return {
    id: agent.id,
    name: agent.name,
    displayName: agent.displayName,
    role: agent.role,
    active: agent.active,
    hasPassword: agent.passwordHash !== '',
    availability: agent.availability,
    ...(agent.email !== undefined ? { email: agent.email } : {}),
    createdAt: agent.createdAt,
  };
}

// A fixed hash to verify against when the name is unknown, so a login takes as long for a missing agent as for a
// wrong password (no user enumeration by timing).
const dummyHash = hashPassword('not-a-real-password');

/** True when `password` is the agent's; as slow for an agent without a password as for a wrong one. */
export async function isAgentPassword(agent: AgentRecord, password: string): Promise<boolean> {
  const ok = await verifyPassword(password, agent.passwordHash || (await dummyHash));
  return ok && agent.passwordHash !== '';
}

/** The active agent whose name and password match, or undefined. */
export async function checkAgentLogin(store: Store, name: string, password: string): Promise<AgentRecord | undefined> {
  const agent = await store.getAgentByName(name);
  if (!agent) {
    await verifyPassword(password, await dummyHash);
    return undefined;
  }
  return (await isAgentPassword(agent, password)) && agent.active ? agent : undefined;
}

/** The bootstrap admin's display name: visitors never see the login name. */
export const BOOTSTRAP_DISPLAY_NAME = 'Support';

/**
 * On a store without agents, creates the bootstrap admin (once, however many nodes start together). Returns its
 * credentials when it was created (the caller prints the password once); undefined when agents already exist.
 */
export async function bootstrapAgent(
  store: Store,
  options: { name: string; password?: string },
  now: Date,
): Promise<{ agent: AgentRecord; password: string; generated: boolean } | undefined> {
  if ((await store.countAgents()) > 0) return undefined;
  const password = options.password ?? generatePassword();
  try {
    const agent = await createAgentAccount(
      store,
      { name: options.name, displayName: BOOTSTRAP_DISPLAY_NAME, role: 'admin', password },
      now,
    );
    return { agent, password, generated: options.password === undefined };
  } catch (error) {
    // Nodes of a cluster starting together all see no agent; the store's unique name lets one create it, and the
    // others must not print a password that was never stored.
    if (error instanceof StoreError && error.code === 'conflict') return undefined;
    throw error;
  }
}

/**
 * `bootstrapAgent` that waits out unavailable storage (a full disk, a database that is restarting) instead of
 * failing: the bridge already serves by then and says why on /health, so ending the process would turn a full disk
 * into an outage. `pause` runs after each such failure (it logs and waits). An attempt whose write failed may still
 * land (the lowdb journal retries its batch), so every attempt uses the same password, and a later attempt that
 * finds the agent it tried to store reports it as created: its generated password would otherwise never be shown.
 */
export async function bootstrapAgentWhenWritable(
  store: Store,
  options: { name: string; password?: string },
  now: () => Date,
  pause: (error: StoreError) => Promise<void>,
): Promise<{ agent: AgentRecord; password: string; generated: boolean } | undefined> {
  const password = options.password ?? generatePassword();
  const generated = options.password === undefined;
  let failedBefore = false;
  for (;;) {
    try {
      if (failedBefore) {
        const tried = await store.getAgentByName(options.name);
        if (tried && (await isAgentPassword(tried, password))) {
          // Only once storage is healthy again: until then that write may still not be on disk.
          const health = store.health();
          if (!health.ok) throw new StoreError('storage_unavailable', health.lastError ?? 'storage unavailable');
          return { agent: tried, password, generated };
        }
      }
      const created = await bootstrapAgent(store, { name: options.name, password }, now());
      return created && { ...created, generated };
    } catch (error) {
      if (!(error instanceof StoreError && error.code === 'storage_unavailable')) throw error;
      failedBefore = true;
      await pause(error);
    }
  }
}

/**
 * Gives the named agent a new generated password (the server-side recovery of a lost admin password): their
 * sessions end, a deactivated account is active again. `not_found` names the active admins to choose from.
 */
export async function resetAgentPassword(store: Store, name: string): Promise<{ agent: AgentRecord; password: string }> {
  const agent = await store.getAgentByName(name);
  if (!agent) {
    const admins = (await store.listAgents()).filter((a) => a.role === 'admin' && a.active).map((a) => `"${a.name}"`);
    throw new StoreError('not_found', `no agent named "${name}"; admins: ${admins.join(', ') || 'none'}`);
  }
  const password = generatePassword();
  const updated = await store.updateAgent(agent.id, { passwordHash: await hashPassword(password), active: true, revokeSessions: true });
  return { agent: updated, password };
}
