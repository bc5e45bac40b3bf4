/**
 * Sends the visitor's messages: each goes into the persisted outbox first (so it survives reload and offline), shows
 * at once as `sending`, and is sent in order, one at a time, retried with jittered backoff until the bridge stores
 * it. The bridge dedupes on clientId, so a resend after a lost ack cannot duplicate. Permanent rejections mark the
 * message failed with the reason; the visitor can retry it. Nothing leaves the outbox unless stored or reset.
 */
import type { ReactiveController } from 'lit';
import { MAX_TEXT_LENGTH } from '../../protocol/limits.ts';
import { textProblem } from '../../protocol/text.ts';
import type { Attachment } from '../../protocol/attachment.ts';
import type { Message } from '../../protocol/message.ts';
import type { ErrorCode } from '../../protocol/errors.ts';
import { TransportError } from '../transports/transport.ts';
import type { ChatHost } from './chat-host.ts';
import type { ConnectionController } from './connection-controller.ts';
import type { ConversationController } from './conversation-controller.ts';
import { backoffDelay } from '../../protocol/backoff.ts';
import { Outbox, RESEND_BACKOFF, entryToMessage, newClientId, type OutboxEntry, type OutboxUpload } from './outbox.ts';

/** After this many rate-limited attempts a message is marked failed instead of waiting on. */
const RATE_LIMIT_ATTEMPTS = 3;

/** Where the bytes of files attached to queued messages live until they are uploaded (the attachments module). */
export interface WaitingFiles {
  /**
   * Uploads an entry's waiting files (`uploads`). Resolves with all the entry's files in order; rejects with
   * `{code, message}` (`network`: retried; anything else fails the message with `message` as its reason).
   */
  upload(entry: OutboxEntry): Promise<Attachment[]>;
  /** Told the upload keys of waiting files no entry needs any more (uploaded, discarded, reset), to delete their bytes. */
  gone(keys: string[]): void;
}

interface Waiter {
  resolve: (message: Message) => void;
  reject: (error: TransportError) => void;
}

/** The outbox and its sender. */
export class OutboxController implements ReactiveController {
  outbox: Outbox;
  #files: WaitingFiles | undefined;
  #waiters = new Map<string, Waiter>();
  #flushing = false;
  #wake: (() => void) | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #connected = false;

  constructor(
    private readonly host: ChatHost,
    private readonly connection: ConnectionController,
    private readonly conversation: ConversationController,
  ) {
    host.addController(this);
    this.outbox = new Outbox(connection.storage, connection.keys.outbox);
    this.#showAll();
    conversation.on('own-stored', (m) => this.#settle(m));
    conversation.on('caught-up', () => void this.flush());
    connection.on('state', (state) => {
      if (state !== 'online') this.#interruptWait();
    });
  }

  hostConnected(): void {
    this.#connected = true;
    void this.flush();
  }

  hostDisconnected(): void {
    this.#connected = false;
    this.#interruptWait();
  }

  /** Re-reads the outbox after the storage keys changed (reset, another site). */
  reload(): void {
    this.outbox = new Outbox(this.connection.storage, this.connection.keys.outbox);
    this.#showAll();
  }

  /**
   * Hands waiting files to `files` (the attachments module, once it has loaded: until then an entry with files, and
   * everything queued after it, waits; `flush()` then sends them); returns the function that takes them back.
   */
  useFiles(files: WaitingFiles): () => void {
    this.#files = files;
    return () => {
      if (this.#files === files) this.#files = undefined;
    };
  }

  #conversationId(): string {
    return this.connection.session?.conversationId ?? '';
  }

  #showAll(): void {
    for (const entry of this.outbox.entries) this.conversation.showLocal(entryToMessage(entry, this.#conversationId()));
  }

  /**
   * Queues `text` (with uploaded files, under the clientId they were uploaded with); resolves with the stored message,
   * rejects when it is refused for good.
   */
  send(text: string, files?: { clientId: string; attachments: Attachment[]; uploads?: OutboxUpload[] }): Promise<Message> {
    // Nothing visible or a broken character: the bridge would refuse it, so it is never queued.
    const problem = textProblem(text);
    if (problem === 'text_invalid' || (problem === 'text_empty' && !files)) return Promise.reject(new TransportError(problem, problem, true));
    // Invisible text beside files is sent as none; a too-long text is kept whole so Retry can hand it back to shorten.
    const entry: OutboxEntry = { clientId: files?.clientId ?? newClientId(), text: problem === 'text_empty' ? '' : text, createdAt: new Date().toISOString(), state: 'pending', attempts: 0 };
    if (files?.uploads) entry.uploads = files.uploads;
    else if (files) entry.attachments = files.attachments;
    if (text.length > MAX_TEXT_LENGTH) {
      // Refused before sending, but still shown and kept: nothing the visitor wrote disappears silently.
      entry.state = 'failed';
      entry.failure = { code: 'text_too_long', reason: `Longer than ${MAX_TEXT_LENGTH} characters` };
    }
    const promise = new Promise<Message>((resolve, reject) => this.#waiters.set(entry.clientId, { resolve, reject }));
    this.outbox.add(entry);
    this.conversation.showLocal(entryToMessage(entry, this.#conversationId()));
    if (entry.state === 'failed') this.#reject(entry.clientId, new TransportError('text_too_long', entry.failure!.reason, true));
    else void this.flush();
    return promise;
  }

  /** Puts a failed message back in the queue (the Retry button). */
  retry(clientId: string): void {
    const entry = this.outbox.get(clientId);
    if (!entry || entry.state !== 'failed') return;
    if (entry.text.length > MAX_TEXT_LENGTH) return;
    const pending: OutboxEntry = { ...entry, state: 'pending', attempts: 0 };
    delete pending.failure;
    this.outbox.update(pending);
    this.conversation.showLocal(entryToMessage(pending, this.#conversationId()));
    void this.flush();
  }

  /** Takes a failed message back out of the outbox (the visitor edits it instead); returns its text. */
  discard(clientId: string): string | undefined {
    const entry = this.outbox.get(clientId);
    if (!entry || entry.state !== 'failed') return undefined;
    this.outbox.remove(clientId);
    this.conversation.removeLocal(clientId);
    this.#filesGone(entry);
    return entry.text;
  }

  /** Forgets every unsent message (reset). Their pending `send()` promises reject. */
  clear(): void {
    for (const entry of this.outbox.entries) {
      this.conversation.removeLocal(entry.clientId);
      this.#reject(entry.clientId, new TransportError('forbidden', 'reset', true));
      this.#filesGone(entry);
    }
    this.outbox.clear();
  }

  #settle(message: Message): void {
    if (this.outbox.remove(message.clientId)) this.host.requestUpdate();
    const waiter = this.#waiters.get(message.clientId);
    this.#waiters.delete(message.clientId);
    waiter?.resolve(message);
  }

  #reject(clientId: string, error: TransportError): void {
    const waiter = this.#waiters.get(clientId);
    this.#waiters.delete(clientId);
    if (waiter) {
      // A caller may not handle the rejection; the failure is on screen and in the status event anyway.
      waiter.reject(error);
    }
  }

  #filesGone(entry: OutboxEntry): void {
    if (entry.uploads) this.#files?.gone(entry.uploads.map((u) => u.key));
  }

  /** Uploads the entry's waiting files and records them in the outbox before their bytes are let go. */
  async #upload(entry: OutboxEntry, files: WaitingFiles): Promise<OutboxEntry | undefined> {
    let attachments: Attachment[];
    try {
      attachments = await files.upload(entry);
    } catch (error) {
      // Out of reach is tried again with backoff; a refused file (too large, its type) or one gone from IndexedDB cannot
      // succeed. The upload's error says why in words, which the failed message shows.
      const { code, message } = error as { code: string; message: string };
      throw new TransportError(code === 'network' ? 'timeout' : (code as ErrorCode), message, code !== 'network');
    }
    const current = this.outbox.get(entry.clientId);
    if (!current) return undefined;
    const uploaded: OutboxEntry = { ...current, attachments };
    delete uploaded.uploads;
    this.outbox.update(uploaded);
    this.conversation.showLocal(entryToMessage(uploaded, this.#conversationId()));
    this.#filesGone(current);
    return uploaded;
  }

  #interruptWait(): void {
    clearTimeout(this.#retryTimer);
    this.#wake?.();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#retryTimer = setTimeout(resolve, ms);
    });
  }

  /** Sends queued messages in order while online; one at a time so the bridge stores them in the visitor's order. */
  async flush(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      for (;;) {
        const transport = this.connection.transport;
        // Wait for the catch-up after connect: messages stored before a crash come back through sync, not twice.
        if (!this.#connected || !transport || transport.state !== 'online' || !this.connection.session) return;
        let entry = this.outbox.nextPending();
        if (!entry) return;
        const files = this.#files;
        if (entry.uploads && !files) return;
        try {
          if (entry.uploads && files) {
            const uploaded = await this.#upload(entry, files);
            if (!uploaded) continue;
            entry = uploaded;
          }
          const stored = await transport.send({ clientId: entry.clientId, text: entry.text, attachments: entry.attachments?.map((a) => a.id) });
          this.conversation.receive([stored], true);
          this.#settle(stored);
        } catch (error) {
          const err = error instanceof TransportError ? error : new TransportError('internal', String(error), false);
          const attempts = entry.attempts + 1;
          const current = this.outbox.get(entry.clientId);
          if (!current) continue;
          if (err.permanent || (err.code === 'rate_limited' && attempts >= RATE_LIMIT_ATTEMPTS)) {
            const failed: OutboxEntry = { ...current, state: 'failed', attempts, failure: { code: err.code, reason: err.message } };
            this.outbox.update(failed);
            this.conversation.showLocal(entryToMessage(failed, this.#conversationId()));
            this.#reject(entry.clientId, err);
            continue;
          }
          this.outbox.update({ ...current, attempts });
          if (err.code === 'offline') return;
          await this.#sleep(err.retryAfterMs ?? backoffDelay(RESEND_BACKOFF, attempts));
        }
      }
    } finally {
      this.#flushing = false;
    }
  }
}
