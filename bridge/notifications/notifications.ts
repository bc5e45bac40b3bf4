/**
 * Notifications while away, by e-mail (#13). Every node scans the store now and then for notifications that are due —
 * a visitor message unanswered for `unansweredAfterMs` (to the assignee, else the admins), agent replies the visitor
 * has not read for `visitorAfterMs` (to the visitor's address) — and queues each under an id derived from the
 * conversation and the message it is about. The store keeps only the first item with an id, so nodes scanning at once
 * and a node restarting queue each mail once; the durable queue then sends it over SMTP with retries and backoff.
 * Nothing lives only in memory: a due notification is found from the store whenever a scan runs.
 */
import nodemailer, { type Transporter } from 'nodemailer';
import type { MailSettings } from '../config.ts';
import type { Conversation } from '../../protocol/conversation.ts';
import type { Message } from '../../protocol/message.ts';
import type { QueueItem } from '../store/store.ts';
import { newQueueWorker, type DeliveryOutcome, type QueueWorker, type QueueWorkerDeps } from '../webhooks/queue-worker.ts';
import type { RetryPolicy } from '../webhooks/webhook-config.ts';
import {
  MAIL_QUEUE,
  messageIdOf,
  notificationIdOf,
  unansweredMail,
  validAddresses,
  visitorRepliesMail,
  type NotificationMail,
} from './notification-mail.ts';
import { unsubscribeUrlOf } from './unsubscribe.ts';

/** Conversations without activity for this long are not scanned any more (their notifications were due long ago). */
export const SCAN_HORIZON_MS = 7 * 86_400_000;
/** Most recently active conversations looked at per scan. */
export const SCAN_LIMIT = 1000;
/** Newest messages of a conversation read to find what is unanswered or unread. */
const MESSAGE_WINDOW = 50;
/** Mail retries: SMTP servers defer for minutes (greylisting), so the backoff starts at a minute. */
export const MAIL_RETRY: RetryPolicy = { maxAttempts: 10, baseDelayMs: 60_000, maxDelayMs: 3_600_000 };

/** What notifications need. */
export interface NotificationsDeps extends QueueWorkerDeps {
  mail: MailSettings;
  /** The bridge's public URL (console and unsubscribe links), read when a mail is made: known only once listening. */
  publicUrl: () => string;
  /** Signs unsubscribe links. */
  secret: string;
  /** How often each node scans (default a fifth of the shorter delay, between 1 s and 30 s). */
  scanMs?: number;
}

/** The scanner and the mail queue's worker of one node. */
export class Notifications {
  readonly worker: QueueWorker<NotificationMail>;
  private readonly transport: Transporter;
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  /** Conversation states (id, rev, address, assignee) known to need no further mail: skipped without reading messages. */
  private readonly settled = new Set<string>();

  constructor(private readonly deps: NotificationsDeps) {
    this.transport = nodemailer.createTransport(deps.mail.smtpUrl);
    this.worker = newQueueWorker<NotificationMail>(deps, {
      queue: MAIL_QUEUE,
      retry: MAIL_RETRY,
      deliver: (item) => this.send(item),
    });
  }

  /** Starts scanning and sending (a first scan at once picks up what was due while the bridge was down). */
  start(): void {
    const { mail } = this.deps;
    const every = this.deps.scanMs ?? Math.min(30_000, Math.max(1000, Math.min(mail.unansweredAfterMs, mail.visitorAfterMs) / 5));
    const tick = () => {
      void this.scan();
      this.timer = setTimeout(tick, every);
      this.timer.unref();
    };
    tick();
    this.worker.start();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.scanning;
    await this.worker.stop();
    this.transport.close();
  }

  /** Queues every notification due now and wakes the worker; a scan already running is joined, not repeated. */
  scan(): Promise<void> {
    this.scanning ??= this.scanOnce()
      .catch((error: unknown) => this.deps.logger.error({ err: error }, 'mail: notification scan failed'))
      .finally(() => {
        this.scanning = undefined;
      });
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    const { store, clock } = this.deps;
    const now = clock().getTime();
    const conversations = await store.listConversations({ filter: 'all', limit: SCAN_LIMIT });
    if (this.settled.size > 10 * SCAN_LIMIT) this.settled.clear();
    let queued = 0;
    for (const conversation of conversations) {
      if (Date.parse(conversation.lastActivityAt) < now - SCAN_HORIZON_MS) break;
      const state = `${conversation.id}@${conversation.rev}@${conversation.visitorEmail ?? ''}@${conversation.assigneeId ?? ''}`;
      if (this.settled.has(state)) continue;
      const unansweredCandidate = conversation.state === 'open' && conversation.lastMessage?.role === 'visitor';
      const unreadCandidate = conversation.visitorEmail !== undefined && conversation.lastSeq > conversation.visitorReadSeq;
      if (!unansweredCandidate && !unreadCandidate) {
        this.settled.add(state);
        continue;
      }
      const messages = await store.getMessages(conversation.id, { limit: MESSAGE_WINDOW });
      const results = await Promise.all([
        unansweredCandidate ? this.unanswered(conversation, messages, now) : 'settled',
        unreadCandidate ? this.unreadReplies(conversation, messages, now) : 'settled',
      ]);
      if (results.includes('queued')) queued++;
      if (results.every((result) => result !== 'waiting')) this.settled.add(state);
    }
    if (queued > 0) this.worker.kick();
  }

  /** The visitor's messages since the last agent reply, mailed once the first has waited long enough. */
  private async unanswered(conversation: Conversation, messages: Message[], now: number): Promise<Outcome> {
    const lastReply = messages.findLastIndex((message) => message.author.role === 'agent');
    const waiting = messages.slice(lastReply + 1).filter((message) => message.author.role === 'visitor');
    const first = waiting[0];
    if (!first) return 'settled';
    const dueAt = Date.parse(first.createdAt) + this.deps.mail.unansweredAfterMs;
    if (dueAt > now) return 'waiting';
    const to = await this.agentRecipients(conversation);
    if (to.length === 0) return 'settled';
    const mail = unansweredMail({
      conversation,
      messages: waiting,
      to,
      consoleUrl: `${this.deps.publicUrl()}/console/#${encodeURIComponent(conversation.id)}`,
      waitedMinutes: Math.max(1, Math.round((now - Date.parse(first.createdAt)) / 60_000)),
    });
    return this.queue(notificationIdOf(conversation.id, 'unanswered', first.id), mail);
  }

  /** The assignee's address; the active admins' when unassigned (or when the assignee has none or is gone). */
  private async agentRecipients(conversation: Conversation): Promise<string[]> {
    const { store } = this.deps;
    if (conversation.assigneeId !== undefined) {
      const assignee = await store.getAgent(conversation.assigneeId);
      if (assignee?.active && assignee.email !== undefined) return validAddresses([assignee.email]);
    }
    const admins = (await store.listAgents()).filter((agent) => agent.active && agent.role === 'admin');
    return validAddresses(admins.map((admin) => admin.email));
  }

  /**
   * Agent replies the visitor has not read, mailed once the newest has waited long enough: replies in quick
   * succession go out in one mail, and a later reply (still unread) brings a new mail with all of them.
   */
  private async unreadReplies(conversation: Conversation, messages: Message[], now: number): Promise<Outcome> {
    const email = conversation.visitorEmail;
    if (email === undefined) return 'settled';
    const replies = messages.filter((message) => message.author.role === 'agent' && message.seq > conversation.visitorReadSeq);
    const newest = replies.at(-1);
    if (!newest) return 'settled';
    if (Date.parse(newest.createdAt) + this.deps.mail.visitorAfterMs > now) return 'waiting';
    if (validAddresses([email]).length === 0) return 'settled';
    const mail = visitorRepliesMail({
      conversation: { ...conversation, visitorEmail: email },
      replies,
      unsubscribeUrl: unsubscribeUrlOf(this.deps.publicUrl(), this.deps.secret, conversation.id, email),
    });
    return this.queue(notificationIdOf(conversation.id, 'visitor-replies', newest.id), mail);
  }

  private async queue(id: string, mail: NotificationMail): Promise<Outcome> {
    const item = await this.deps.store.enqueue(MAIL_QUEUE, mail, id);
    if (item.attempts === 0 && item.state === 'pending') this.deps.logger.debug({ id, kind: mail.kind }, 'mail: notification queued');
    return 'queued';
  }

  /** One SMTP attempt; a 5xx answer (a refused recipient, a rejected mail) will not change on a retry. */
  private async send(item: QueueItem<NotificationMail>): Promise<DeliveryOutcome> {
    const { mail } = this.deps;
    const payload = item.payload;
    const to = validAddresses(payload.to);
    if (to.length === 0) return { ok: false, permanent: true, error: 'no valid recipient' };
    try {
      await this.transport.sendMail({
        from: mail.from,
        to,
        subject: payload.subject,
        text: payload.text,
        messageId: messageIdOf(item.id, mail.from),
        date: this.deps.clock(),
        headers: payload.headers,
        // Nothing in a queued mail may make nodemailer read a file or fetch a URL.
        disableFileAccess: true,
        disableUrlAccess: true,
      });
      return { ok: true };
    } catch (error) {
      const responseCode = (error as { responseCode?: unknown }).responseCode;
      const code = typeof responseCode === 'number' ? responseCode : undefined;
      return {
        ok: false,
        permanent: code !== undefined && code >= 500,
        error: code !== undefined ? `SMTP ${code}` : `SMTP connection failed (${connectionErrorCode(error)})`,
      };
    }
  }
}

/** What looking at one notification found: queued (now or before), not due yet, or nothing to send at this state. */
type Outcome = 'queued' | 'waiting' | 'settled';

/** The system error code of a failed SMTP connection (ECONNREFUSED, ETIMEDOUT…), or 'error' when there is none. */
function connectionErrorCode(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'error';
}
