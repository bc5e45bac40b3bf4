/**
 * One-time invite links: an admin adds an agent without a password, the agent opens the link and sets one. Only a
 * hash of the link's secret is stored; the link is good for INVITE_TTL_MS and for one use. An agent has one live link
 * at a time: issuing a new one (a lost or expired link) ends the previous one.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Store } from '../store/store.ts';

/** How long an invite link works. */
export const INVITE_TTL_MS = 7 * 24 * 3600_000;
/** Store namespace of open invites (key: hash of the secret). */
const INVITES = 'agent-invite';
/** Store namespace of used invites: claiming one here is what makes a link single-use, on every node. */
const USED_INVITES = 'agent-invite-used';
/** Store namespace of each agent's latest invite (key: agent id, value: the invite's key). */
const LATEST_INVITES = 'agent-invite-latest';

interface StoredInvite {
  agentId: string;
}

function inviteKey(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

/** Creates an invite for `agentId`; returns the link. The fragment never reaches servers, proxies or logs. */
export async function createInvite(store: Store, publicUrl: string, agentId: string, now: Date): Promise<string> {
  const secret = randomBytes(24).toString('base64url');
  const expiresAt = new Date(now.getTime() + INVITE_TTL_MS).toISOString();
  const key = inviteKey(secret);
  const previous = await store.getRecord<string>(LATEST_INVITES, agentId);
  await store.putRecord(INVITES, key, { agentId } satisfies StoredInvite, expiresAt);
  await store.putRecord(LATEST_INVITES, agentId, key, expiresAt);
  if (previous !== undefined && previous !== key) await store.deleteRecord(INVITES, previous);
  return `${publicUrl.replace(/\/+$/, '')}/console/#invite=${secret}`;
}

/**
 * Uses up an invite: the agent it was made for, or undefined when the link is unknown, expired or used already
 * (two tabs submitting one link at once: one wins).
 */
export async function redeemInvite(store: Store, secret: string, now: Date): Promise<string | undefined> {
  const key = inviteKey(secret);
  const invite = await store.getRecord<StoredInvite>(INVITES, key);
  if (!invite) return undefined;
  // Two admins re-issuing at once on two nodes may both miss each other's delete: only the latest link counts.
  // (An invite from before links were tracked per agent has no latest entry and stays good.)
  const latest = await store.getRecord<string>(LATEST_INVITES, invite.agentId);
  if (latest !== undefined && latest !== key) return undefined;
  const expiresAt = new Date(now.getTime() + INVITE_TTL_MS).toISOString();
  if (!(await store.addRecordOnce(USED_INVITES, key, true, expiresAt))) return undefined;
  await store.deleteRecord(INVITES, key);
  return invite.agentId;
}
