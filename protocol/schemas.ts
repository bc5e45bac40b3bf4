/**
 * Schemas for every inbound payload (socket events and HTTP bodies). The bridge validates with these before
 * anything else; the payload types below are inferred from them, so clients and server cannot drift.
 * Objects are strict: unknown keys, including `__proto__` and `constructor`, are rejected.
 */
import { z } from 'zod';
import { MAX_CLIENT_ID_LENGTH, MAX_PAGE_SIZE } from './limits.ts';
import { textProblem } from './text.ts';
import { AGENT_ROLES, Availability, isDisplayName } from './agents.ts';
import { isTimeZone } from './business-hours.ts';
import { MAX_ATTACHMENTS_PER_MESSAGE } from './attachment.ts';
import { MAX_CONTEXT_TITLE_LENGTH, MAX_CONTEXT_URL_LENGTH } from './visitor-context.ts';

/**
 * Message text: something visible (not only white space, control, format or zero-width characters), no lone
 * UTF-16 surrogate, at most MAX_TEXT_LENGTH code units. The issue message is the error code (see `textProblem`).
 */
export const messageText = z.string().superRefine((s, ctx) => {
  const problem = textProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Client-generated idempotency key. */
export const clientId = z.string().min(1).max(MAX_CLIENT_ID_LENGTH).regex(/^[A-Za-z0-9._:-]+$/);

/** Opaque server id (conversation or message). */
export const entityId = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/);

/** Attachment ids of a message: uploaded first (`POST /api/attachments`), at most MAX_ATTACHMENTS_PER_MESSAGE, no repeats. */
export const attachmentIds = z
  .array(entityId)
  .max(MAX_ATTACHMENTS_PER_MESSAGE)
  .refine((ids) => new Set(ids).size === ids.length, 'an attachment is listed twice');

/** A message needs text or at least one attachment; without either it is a `bad_request` naming `text`. */
function textOrAttachments(payload: { text?: string | undefined; attachments?: string[] | undefined }, ctx: z.RefinementCtx): void {
  if (payload.text === undefined && (payload.attachments?.length ?? 0) === 0) {
    ctx.addIssue({ code: 'custom', message: 'required (or at least one attachment)', path: ['text'] });
  }
}

const seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const limit = z.number().int().min(1).max(MAX_PAGE_SIZE);

// ---- visitor namespace ----
export const visitorSendSchema = z
  .strictObject({ clientId, text: messageText.optional(), attachments: attachmentIds.optional() })
  .superRefine(textOrAttachments);
export const visitorSyncSchema = z.strictObject({ afterRev: seq });
export const visitorHistorySchema = z.strictObject({ beforeSeq: seq.optional(), limit: limit.optional() });
export const visitorReceiptSchema = z.strictObject({ upToSeq: seq, status: z.enum(['delivered', 'read']) });
export const typingSchema = z.strictObject({ typing: z.boolean() });
export const conversationEraseSchema = z.strictObject({});
/** An e-mail address (a visitor's, an agent's); one line, nothing a mail header could be split on. */
export const emailAddress = z.email('must be an e-mail address').max(254);
/** An e-mail address a visitor leaves to be answered at. */
export const visitorEmailAddress = emailAddress;
/** The page a visitor is on, as e-mailed replies link back to it. */
export const visitorPageUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2048);
/** `visitor:email`: the address to be answered at (`null` removes it) and the page the visitor left it on. */
export const visitorEmailSchema = z.strictObject({ email: visitorEmailAddress.nullable(), page: visitorPageUrl.optional() });
/**
 * `visitor:context`: the page the visitor is on and their browser's language and time zone, bounded so a report stays
 * small whatever the page holds. Unknown keys are refused like everywhere else.
 */
export const visitorContextSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(MAX_CONTEXT_URL_LENGTH),
  title: z.string().max(MAX_CONTEXT_TITLE_LENGTH),
  referrer: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(MAX_CONTEXT_URL_LENGTH).optional(),
  language: z.string().max(35).regex(/^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$/, 'must be a BCP 47 language tag').optional(),
  timeZone: z.string().min(1).max(64).refine(isTimeZone, 'must be an IANA time zone such as Europe/Berlin').optional(),
  // Real offsets run from UTC-12:00 to UTC+14:00.
  utcOffsetMinutes: z.number().int().min(-720).max(840),
});

/** Handshake `auth` of the visitor namespace. */
export const visitorAuthSchema = z.strictObject({
  token: z.string().max(2048).optional(),
  site: z.string().max(100).optional(),
  userId: z.string().min(1).max(200).optional(),
  userHash: z.string().regex(/^[0-9a-fA-F]{64}$/).optional(),
  name: z.string().max(100).optional(),
  /** Last revision the client has; the bridge answers with the first sync page from it in `session.catchUp`. */
  afterRev: seq.optional(),
});

// ---- agent namespace ----
export const agentSendSchema = z
  .strictObject({ conversationId: entityId, clientId, text: messageText.optional(), attachments: attachmentIds.optional() })
  .superRefine(textOrAttachments);
export const agentSyncSchema = z.strictObject({ conversationId: entityId, afterRev: seq });
export const agentHistorySchema = z.strictObject({
  conversationId: entityId,
  beforeSeq: seq.optional(),
  limit: limit.optional(),
});
export const agentReceiptSchema = z.strictObject({
  conversationId: entityId,
  upToSeq: seq,
  status: z.enum(['delivered', 'read']),
});
export const agentTypingSchema = z.strictObject({ conversationId: entityId, typing: z.boolean() });
/** Which assignees a conversation list shows (see `AssigneeFilter`). */
export const assigneeFilter = z.enum(['mine', 'unassigned']);
export const conversationListSchema = z.strictObject({
  filter: z.enum(['open', 'all']).optional(),
  assignee: assigneeFilter.optional(),
  query: z.string().max(200).optional(),
  limit: z.number().int().min(1).max(500).optional(),
});
export const agentRetrySchema = z.strictObject({ conversationId: entityId, messageId: entityId });
/** Close a conversation (out of the open inbox) or reopen it; a visitor message reopens it too. */
export const conversationStateSchema = z.strictObject({ conversationId: entityId, state: z.enum(['open', 'closed']) });
/** Assign a conversation to an active agent, transfer it, or (`null`) unassign it. */
export const conversationAssignSchema = z.strictObject({ conversationId: entityId, assigneeId: entityId.nullable() });
/** `conversation:context`: the visitor context stored with a conversation. */
export const conversationContextSchema = z.strictObject({ conversationId: entityId });
export const agentAuthSchema = z.strictObject({ token: z.string().min(1).max(4096) });

// ---- REST ----
export const loginSchema = z.strictObject({
  name: z.string().min(1).max(100),
  password: z.string().min(1).max(1000),
});
/** A new login name: letters, digits and `. _ @ -`, so it reads the same everywhere it is typed. */
export const agentName = z.string().min(2).max(64).regex(/^[A-Za-z0-9._@-]+$/, 'letters, digits and . _ @ - only');
/** What visitors see above an agent's replies. */
export const agentDisplayName = z
  .string()
  .trim()
  .min(1)
  .max(60)
  .refine(isDisplayName, 'must have visible characters and no control characters');
/** A password an agent chooses. */
export const agentPassword = z.string().min(10, 'at least 10 characters').max(1000);
export const agentRole = z.enum(AGENT_ROLES);
/** `POST /api/agents` (admins). */
export const agentCreateSchema = z.strictObject({
  name: agentName,
  displayName: agentDisplayName,
  role: agentRole,
  password: agentPassword.optional(),
  email: emailAddress.optional(),
});
/** `PATCH /api/agents/:id` (admins); at least one field; `email: null` removes the address. */
export const agentUpdateSchema = z
  .strictObject({
    displayName: agentDisplayName.optional(),
    role: agentRole.optional(),
    active: z.boolean().optional(),
    email: emailAddress.nullable().optional(),
  })
  .refine((v) => Object.keys(v).length > 0, 'nothing to change');
/** `POST /api/auth/password`: the signed-in agent's own password. */
export const passwordChangeSchema = z.strictObject({ current: z.string().min(1).max(1000), next: agentPassword });
/** `PATCH /api/auth/me`: the signed-in agent's own display name. */
export const profileUpdateSchema = z.strictObject({ displayName: agentDisplayName });
/** `PUT /api/auth/availability`: the signed-in agent sets themselves Online or Away. */
export const availabilityUpdateSchema = z.strictObject({ availability: z.enum([Availability.online, Availability.away]) });

/** `console:visibility`: whether the console tab is visible now (`document.visibilityState`). */
export const consoleVisibilitySchema = z.strictObject({ visible: z.boolean() });
/** A push subscription's endpoint: the push service's URL, a capability; https is checked by the bridge. */
const pushEndpoint = z.url({ protocol: /^https?$/, error: 'must be an https:// URL' }).max(2048);
/**
 * `POST /api/push/subscriptions`: `PushSubscription.toJSON()` of the console's browser. `p256dh` is the browser's
 * uncompressed P-256 key (65 bytes, so 87 base64url characters starting with `B`), `auth` its 16-byte secret (RFC 8291).
 */
export const pushSubscriptionSchema = z.object({
  endpoint: pushEndpoint,
  expirationTime: z.number().nullable().optional(),
  keys: z.strictObject({
    p256dh: z.string().regex(/^B[A-Za-z0-9_-]{86}=?$/, 'must be an uncompressed P-256 key in base64url'),
    auth: z.string().regex(/^[A-Za-z0-9_-]{22}(?:==)?$/, 'must be 16 bytes in base64url'),
  }),
});
/** `DELETE /api/push/subscriptions`: the endpoint of the subscription this browser ends. */
export const pushUnsubscribeSchema = z.strictObject({ endpoint: pushEndpoint });

/** `HH:MM` on a 24-hour clock; `24:00` ends a period at midnight. */
const clockTime = z.string().regex(/^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'must be HH:MM (00:00 to 24:00)');
const openingPeriod = z
  .strictObject({ from: clockTime, to: clockTime })
  .refine((p) => p.from < p.to, { message: 'must end after it starts (split a period across midnight in two)', path: ['to'] });
/** The periods of one day: at most 4, sorted, not overlapping. */
const openingDay = z
  .array(openingPeriod)
  .max(4)
  .refine((periods) => periods.every((p, i) => i === 0 || periods[i - 1]!.to <= p.from), 'periods must be in order and not overlap');
/** `PUT /api/settings/business-hours` (admins). */
export const businessHoursSchema = z.strictObject({
  enabled: z.boolean(),
  timeZone: z.string().min(1).max(64).refine(isTimeZone, 'must be an IANA time zone such as Europe/Berlin'),
  weekly: z.strictObject({
    mon: openingDay,
    tue: openingDay,
    wed: openingDay,
    thu: openingDay,
    fri: openingDay,
    sat: openingDay,
    sun: openingDay,
  }),
});
/** `POST /api/auth/invite`: an invited agent sets their password. */
export const inviteAcceptSchema = z.strictObject({
  token: z.string().min(20).max(200).regex(/^[A-Za-z0-9_-]+$/),
  password: agentPassword,
});
export const restSendSchema = z
  .strictObject({ text: messageText.optional(), clientId: clientId.optional(), attachments: attachmentIds.optional() })
  .superRefine(textOrAttachments);
/**
 * `POST /api/attachments` query: the file's display name, the conversation (agents), an idempotency key, and for
 * visitors the site key of their widget (as in the handshake), recorded when an upload is what starts the conversation.
 */
export const attachmentUploadQuerySchema = z.strictObject({
  name: z.string().max(1000).optional(),
  conversationId: entityId.optional(),
  site: z.string().max(100).optional(),
  uploadKey: clientId.optional(),
});
export const restHistoryQuerySchema = z.strictObject({
  before: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).optional(),
});

/** `PUT /api/conversations/:id/assignee`. */
export const restAssignSchema = z.strictObject({ assigneeId: entityId.nullable() });
/** `PUT /api/settings/assignment` (admins). */
export const assignmentSettingsSchema = z.strictObject({ roundRobin: z.boolean() });
/** A saved reply's shortcut, typed after `/` in the composer. */
export const savedReplyShortcut = z
  .string()
  .min(1)
  .max(32)
  .regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _ only');
/** `PUT /api/saved-replies/:shortcut` (admins). */
export const savedReplySchema = z.strictObject({ text: messageText });

export type VisitorSendPayload = z.infer<typeof visitorSendSchema>;
export type VisitorSyncPayload = z.infer<typeof visitorSyncSchema>;
export type VisitorHistoryPayload = z.infer<typeof visitorHistorySchema>;
export type VisitorReceiptPayload = z.infer<typeof visitorReceiptSchema>;
export type TypingPayload = z.infer<typeof typingSchema>;
export type VisitorEmailPayload = z.infer<typeof visitorEmailSchema>;
export type VisitorAuth = z.infer<typeof visitorAuthSchema>;
export type VisitorContextPayload = z.infer<typeof visitorContextSchema>;
export type ConversationContextPayload = z.infer<typeof conversationContextSchema>;
export type AgentSendPayload = z.infer<typeof agentSendSchema>;
export type AgentSyncPayload = z.infer<typeof agentSyncSchema>;
export type AgentHistoryPayload = z.infer<typeof agentHistorySchema>;
export type AgentReceiptPayload = z.infer<typeof agentReceiptSchema>;
export type AgentTypingPayload = z.infer<typeof agentTypingSchema>;
export type ConsoleVisibilityPayload = z.infer<typeof consoleVisibilitySchema>;
export type PushSubscriptionPayload = z.infer<typeof pushSubscriptionSchema>;
export type ConversationListPayload = z.infer<typeof conversationListSchema>;
export type AgentRetryPayload = z.infer<typeof agentRetrySchema>;
export type ConversationStatePayload = z.infer<typeof conversationStateSchema>;
export type ConversationAssignPayload = z.infer<typeof conversationAssignSchema>;
export type AgentAuth = z.infer<typeof agentAuthSchema>;
export type LoginPayload = z.infer<typeof loginSchema>;
export type AgentCreatePayload = z.infer<typeof agentCreateSchema>;
export type AgentUpdatePayload = z.infer<typeof agentUpdateSchema>;
export type PasswordChangePayload = z.infer<typeof passwordChangeSchema>;
export type ProfileUpdatePayload = z.infer<typeof profileUpdateSchema>;
export type InviteAcceptPayload = z.infer<typeof inviteAcceptSchema>;
export type RestSendPayload = z.infer<typeof restSendSchema>;
export type AttachmentUploadQuery = z.infer<typeof attachmentUploadQuerySchema>;
