/**
 * One-time invite links: an admin adds an agent without a password, the agent opens the link and sets one. Only a
 * hash of the link's secret is stored; the link is good for INVITE_TTL_MS and for one use.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Store } from '../store/store.ts';

/** How long an invite link works. */
export const INVITE_TTL_MS = 7 * 24 * 3600_000;
/** Store namespace of open invites (key: hash of the secret). */
const INVITES = 'agent-invite';
/** Store namespace of used invites: claiming one here is what makes a link single-use, on every node. */
const USED_INVITES = 'agent-invite-used';

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
  await store.putRecord(INVITES, inviteKey(secret), { agentId } satisfies StoredInvite, expiresAt);
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
  const expiresAt = new Date(now.getTime() + INVITE_TTL_MS).toISOString();
  if (!(await store.addRecordOnce(USED_INVITES, key, true, expiresAt))) return undefined;
  await store.deleteRecord(INVITES, key);
  return invite.agentId;
}
