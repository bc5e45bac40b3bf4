/**
 * Visitor context (#13): the page a web visitor is on, with browser and OS parsed from their socket's User-Agent
 * header, kept with the conversation as one store record (erased and exported with it) and pushed to the agents.
 * Display-only: nothing here may decide anything about security, as a visitor can report any page and any agent.
 */
import Bowser from 'bowser';
import type { VisitorContext, VisitorContextReport } from '../protocol/visitor-context.ts';
import { BridgeError } from './api-error.ts';
import type { BridgeContext } from './context.ts';
import { AGENTS_ROOM } from './realtime/namespaces.ts';

/** Store record namespace of visitor contexts, keyed by conversation id. */
export const VISITOR_CONTEXT_NAMESPACE = 'visitor-context';
/** Longest User-Agent header parsed: real ones are a few hundred characters. */
const MAX_USER_AGENT_LENGTH = 1024;

/** Browser, OS and device class of a User-Agent header; empty when it is absent or not recognised. */
export function describeUserAgent(userAgent: string | undefined): Pick<VisitorContext, 'browser' | 'os' | 'device'> {
  if (!userAgent) return {};
  const parsed = Bowser.parse(userAgent.slice(0, MAX_USER_AGENT_LENGTH));
  const named = (name: string | undefined, version: string | undefined): string | undefined =>
    name ? [name, version].filter(Boolean).join(' ') : undefined;
  const browser = named(parsed.browser.name, parsed.browser.version?.split('.')[0]);
  const os = named(parsed.os.name, parsed.os.versionName ?? parsed.os.version);
  const device = parsed.platform.type;
  return { ...(browser ? { browser } : {}), ...(os ? { os } : {}), ...(device ? { device } : {}) };
}

/** The visitor context stored with a conversation, if any. */
export async function visitorContextOf(ctx: BridgeContext, conversationId: string): Promise<VisitorContext | undefined> {
  return ctx.store.getRecord<VisitorContext>(VISITOR_CONTEXT_NAMESPACE, conversationId);
}

async function storeVisitorContext(ctx: BridgeContext, conversationId: string, context: VisitorContext): Promise<void> {
  await ctx.store.putRecord(VISITOR_CONTEXT_NAMESPACE, conversationId, context);
  // Through the Socket.IO adapter: agents on every node hear it.
  ctx.agentNs.to(AGENTS_ROOM).emit('conversation:context', { conversationId, context });
}

/** One visitor socket's reports: stored once the conversation exists, else the newest kept until it does. */
export interface VisitorContextTracker {
  /** Takes a validated report; `stored` is false while the conversation does not exist yet. */
  report(report: VisitorContextReport): Promise<{ stored: boolean }>;
  /** The visitor's first message (or address) created the conversation: store the report kept for it. */
  conversationStarted(): Promise<void>;
}

/**
 * Tracks the reports of the socket of `conversationId`, adding what `userAgent` tells. A visitor who never writes
 * leaves nothing stored: their reports stay with the socket and go when it does.
 */
export function trackVisitorContext(ctx: BridgeContext, conversationId: string, userAgent: string | undefined): VisitorContextTracker {
  const agent = describeUserAgent(userAgent);
  let pending: VisitorContext | undefined;
  return {
    async report(report) {
      if (!ctx.config.visitorContext) throw new BridgeError('bad_request', 'This chat does not take visitor context.');
      const context: VisitorContext = { ...report, ...agent, updatedAt: ctx.clock().toISOString() };
      if (!(await ctx.store.getConversation(conversationId))) {
        pending = context;
        return { stored: false };
      }
      pending = undefined;
      await storeVisitorContext(ctx, conversationId, context);
      return { stored: true };
    },
    async conversationStarted() {
      const context = pending;
      pending = undefined;
      if (context) await storeVisitorContext(ctx, conversationId, context);
    },
  };
}
