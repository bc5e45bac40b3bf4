/**
 * Agent sessions: every sign-in is a session stored with the agent's session epoch; its token names it. A token is
 * good while its session is stored, the agent is active and the epoch still matches — checked against the store on
 * every REST request and socket handshake, never cached, so a sign-out or deactivation holds at once on every node.
 * Ending sessions also disconnects their sockets through the Socket.IO adapter, which reaches every node.
 */
import type { LoginResult } from '../../protocol/agents.ts';
import type { AgentRecord, Store } from '../store/store.ts';
import { agentRoom, sessionRoom, type AgentNamespace } from '../realtime/namespaces.ts';
import { randomId } from '../ids.ts';
import { toAgentAccount } from './agent-accounts.ts';
import { signAgentToken, verifyAgentToken } from './agent-token.ts';

/** Store namespace of live sessions (key: session id); each record expires with its token. */
export const AGENT_SESSION_RECORDS = 'agent-session';

interface StoredSession {
  agentId: string;
  epoch: number;
}

/** A token that passed every check: whose it is and which session. */
export interface LiveSession {
  agent: AgentRecord;
  sessionId: string;
}

/** Starts a session for `agent` and returns the sign-in result with its token. */
export async function startAgentSession(store: Store, secret: string, agent: AgentRecord, now: Date): Promise<LoginResult> {
  const sessionId = randomId();
  const { token, expiresAt } = await signAgentToken(secret, { agentId: agent.id, sessionId }, now);
  const session: StoredSession = { agentId: agent.id, epoch: agent.sessionEpoch };
  await store.putRecord(AGENT_SESSION_RECORDS, sessionId, session, expiresAt.toISOString());
  return { token, agent: toAgentAccount(agent), expiresAt: expiresAt.toISOString() };
}

/** The live session a token belongs to, or undefined (bad signature, expired, signed out, deactivated, revoked). */
export async function resolveAgentSession(store: Store, secret: string, token: string, now: Date): Promise<LiveSession | undefined> {
  const claims = await verifyAgentToken(secret, token, now);
  if (!claims) return undefined;
  const agent = await liveSessionAgent(store, claims.agentId, claims.sessionId);
  return agent ? { agent, sessionId: claims.sessionId } : undefined;
}

/** The agent of a session that is still live (stored, same epoch, agent active), or undefined. */
export async function liveSessionAgent(store: Store, agentId: string, sessionId: string): Promise<AgentRecord | undefined> {
  const [session, agent] = await Promise.all([
    store.getRecord<StoredSession>(AGENT_SESSION_RECORDS, sessionId),
    store.getAgent(agentId),
  ]);
  if (!session || !agent || !agent.active) return undefined;
  return session.agentId === agent.id && session.epoch === agent.sessionEpoch ? agent : undefined;
}

/** Ends one session: its token stops working and its sockets are disconnected, on every node. */
export async function endAgentSession(store: Store, agentNs: AgentNamespace, sessionId: string): Promise<void> {
  await store.deleteRecord(AGENT_SESSION_RECORDS, sessionId);
  agentNs.in(sessionRoom(sessionId)).disconnectSockets(true);
}

/**
 * Disconnects every socket of an agent on every node; call after a change that bumped their session epoch (their
 * consoles then fail to reconnect and show sign-in) or changed what their sockets carry (they reconnect with it).
 */
export function disconnectAgentSockets(agentNs: AgentNamespace, agentId: string): void {
  agentNs.in(agentRoom(agentId)).disconnectSockets(true);
}
