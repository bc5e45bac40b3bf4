/**
 * Agents' push subscriptions, one per agent per browser, kept as store records (`push-subscriptions:<agentId>`,
 * keyed by a hash of the endpoint): both engines keep records durably and every node reads the same ones. A browser
 * has one endpoint, so a subscription belongs to whoever subscribed from that browser last.
 */
import { createHash } from 'node:crypto';
import type { PushSubscriptionPayload } from '../../protocol/schemas.ts';
import type { Store } from '../store/store.ts';

/** What is stored per subscription. */
export interface StoredPushSubscription {
  id: string;
  agentId: string;
  endpoint: string;
  keys: { p256dh: string; auth: string };
  /** The sign-in it was made in: signing out there forgets it (the next person at that browser gets none of it). */
  sessionId?: string;
  createdAt: string;
}

/** Subscriptions kept per agent; subscribing from one more browser forgets the oldest. */
export const MAX_SUBSCRIPTIONS_PER_AGENT = 20;

/** The store namespace of one agent's subscriptions. */
export function subscriptionNamespaceOf(agentId: string): string {
  return `push-subscriptions:${agentId}`;
}

/** The id of the subscription with this endpoint: the same from every node, and no secret (the endpoint is one). */
export function subscriptionIdOf(endpoint: string): string {
  return createHash('sha256').update(endpoint).digest('base64url').slice(0, 22);
}

/** Every subscription of `agentId`. */
export async function listSubscriptions(store: Store, agentId: string): Promise<StoredPushSubscription[]> {
  const records = await store.listRecords(subscriptionNamespaceOf(agentId), MAX_SUBSCRIPTIONS_PER_AGENT * 2);
  return records.map((record) => record.value as StoredPushSubscription);
}

/** Keeps `subscription` as `agentId`'s (taking it from another agent who subscribed from this browser before). */
export async function saveSubscription(
  store: Store,
  agentId: string,
  subscription: PushSubscriptionPayload,
  sessionId: string,
  now: Date,
): Promise<StoredPushSubscription> {
  const id = subscriptionIdOf(subscription.endpoint);
  const stored: StoredPushSubscription = {
    id,
    agentId,
    endpoint: subscription.endpoint,
    // Browsers give unpadded base64url; padding, where a client added it, is dropped so every key reads alike.
    keys: { p256dh: subscription.keys.p256dh.replace(/=+$/, ''), auth: subscription.keys.auth.replace(/=+$/, '') },
    sessionId,
    createdAt: now.toISOString(),
  };
  for (const agent of await store.listAgents()) {
    if (agent.id !== agentId) await store.deleteRecord(subscriptionNamespaceOf(agent.id), id);
  }
  const existing = (await listSubscriptions(store, agentId)).filter((other) => other.id !== id);
  const excess = existing.length + 1 - MAX_SUBSCRIPTIONS_PER_AGENT;
  if (excess > 0) {
    const oldest = [...existing].sort((a, b) => a.createdAt.localeCompare(b.createdAt)).slice(0, excess);
    for (const old of oldest) await store.deleteRecord(subscriptionNamespaceOf(agentId), old.id);
  }
  await store.putRecord(subscriptionNamespaceOf(agentId), id, stored);
  return stored;
}

/** Forgets the subscription with this endpoint of `agentId` (nothing when there is none). */
export async function deleteSubscription(store: Store, agentId: string, endpoint: string): Promise<void> {
  await store.deleteRecord(subscriptionNamespaceOf(agentId), subscriptionIdOf(endpoint));
}

/** Forgets the subscriptions `agentId` made in sign-in `sessionId` (at its sign-out). */
export async function forgetSessionSubscriptions(store: Store, agentId: string, sessionId: string): Promise<void> {
  for (const subscription of await listSubscriptions(store, agentId)) {
    if (subscription.sessionId === sessionId) await store.deleteRecord(subscriptionNamespaceOf(agentId), subscription.id);
  }
}
