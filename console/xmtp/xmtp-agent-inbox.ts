/**
 * The support team's XMTP inbox, held in the agent's browser: every DM a visitor opened with the support identity
 * becomes a conversation on channel `xmtp`, numbered like the visitor's side (XmtpLedger). The text stays end to
 * end encrypted between the visitor's browser and this one; the bridge never sees it. Loaded lazily (with the SDK)
 * only when the console has XMTP turned on.
 */
import { ConsentState, SortDirection, type DecodedMessage, type Dm } from '@xmtp/browser-sdk';
import type { ConversationSummary } from '../../protocol/conversation.ts';
import type { MessagePage, SyncResult } from '../../protocol/events.ts';
import type { Message, StatusChange } from '../../protocol/message.ts';
import { assertXmtpCanRun, takeDatabaseLock } from '../../widget/xmtp/environment.ts';
import { openXmtpClient, type AnyClient } from '../../widget/xmtp/open-client.ts';
import { localKeySigner, walletSigner, type Eip1193Provider } from '../../widget/xmtp/visitor-identity.ts';
import { XmtpLedger } from '../../widget/xmtp/xmtp-ledger.ts';
import { readXmtpMessage } from '../../widget/xmtp/xmtp-message.ts';
import { sendChatMessage, sendReadReceipt } from '../../widget/xmtp/send.ts';
import { supportKeyStorageKey, type XmtpConsoleConfig } from './xmtp-console-config.ts';

/** Prefix of console conversation ids that live on XMTP (never sent to the bridge). */
export const XMTP_CONVERSATION_PREFIX = 'xmtp-';

/** Events the inbox reports, in the /agent namespace's shapes. */
export interface XmtpInboxEvents {
  'message:new': (message: Message) => void;
  'message:status': (change: StatusChange) => void;
  'conversation:updated': (conversation: ConversationSummary) => void;
}

/** What the console's merged connection needs from the XMTP side (a test double implements it too). */
export interface XmtpInboxSource {
  /** The support identity's address: what sites put in `xmtp-peer`. */
  readonly address: string;
  list(): Promise<ConversationSummary[]>;
  history(conversationId: string, beforeSeq: number | undefined, limit: number): Promise<MessagePage>;
  sync(conversationId: string, afterRev: number): Promise<SyncResult>;
  send(conversationId: string, clientId: string, text: string, agentName?: string): Promise<Message>;
  receipt(conversationId: string, upToSeq: number, status: 'delivered' | 'read'): void;
  on<K extends keyof XmtpInboxEvents>(event: K, listener: XmtpInboxEvents[K]): () => void;
  close(): void;
}

type AnyDm = Dm<unknown>;

interface Thread {
  dm: AnyDm;
  ledger: XmtpLedger;
  peerInboxId: string;
  bridgeConversationId?: string;
}

/** Opens the support inbox in this browser (bounded by the caller). */
export async function openXmtpAgentInbox(config: XmtpConsoleConfig): Promise<XmtpInboxSource> {
  await assertXmtpCanRun();
  const release = await takeDatabaseLock(`anon-chat-console-xmtp:${config.env}`);
  let client: AnyClient | undefined;
  try {
    const signer =
      config.identity === 'wallet'
        ? await walletSigner(requireWallet())
        : localKeySigner(localStorage, config.env, supportKeyStorageKey(config.env));
    client = await openXmtpClient({
      env: config.env,
      signer,
      identity: config.identity,
      track: (opened) => {
        client = opened;
      },
      current: () => undefined,
    });
    const identifier = await signer.getIdentifier();
    const inbox = new XmtpAgentInbox(client, identifier.identifier, release);
    await inbox.start();
    return inbox;
  } catch (error) {
    client?.close();
    release();
    throw error;
  }
}

function requireWallet(): Eip1193Provider {
  const provider = (globalThis as { ethereum?: Eip1193Provider }).ethereum;
  if (!provider) throw new Error('No injected wallet');
  return provider;
}

class XmtpAgentInbox implements XmtpInboxSource {
  readonly #threads = new Map<string, Thread>();
  readonly #listeners = new Map<string, Set<(...args: never[]) => void>>();
  #stream: { end(): Promise<unknown> } | undefined;

  constructor(
    private readonly client: AnyClient,
    readonly address: string,
    private readonly release: () => void,
  ) {}

  async start(): Promise<void> {
    await this.client.conversations.sync();
    const dms = await this.client.conversations.listDms({ consentStates: [ConsentState.Allowed, ConsentState.Unknown] });
    for (const dm of dms) await this.#open(dm);
    this.#stream = await this.client.conversations.streamAllMessages({
      consentStates: [ConsentState.Allowed, ConsentState.Unknown],
      onValue: (decoded) => void this.#onStreamed(decoded),
      onError: () => undefined,
    });
  }

  async list(): Promise<ConversationSummary[]> {
    return [...this.#threads.values()].map((thread) => this.#summary(thread));
  }

  async history(conversationId: string, beforeSeq: number | undefined, limit: number): Promise<MessagePage> {
    return this.#thread(conversationId).ledger.page(beforeSeq, limit);
  }

  async sync(conversationId: string, afterRev: number): Promise<SyncResult> {
    const thread = this.#thread(conversationId);
    await thread.dm.sync();
    await this.#load(thread);
    return { messages: thread.ledger.since(afterRev), rev: thread.ledger.rev, hasMore: false };
  }

  async send(conversationId: string, clientId: string, text: string, agentName?: string): Promise<Message> {
    const thread = this.#thread(conversationId);
    // Answering a visitor is consent: the DM moves from "unknown" to "allowed" for this support identity.
    await thread.dm.updateConsentState(ConsentState.Allowed).catch(() => undefined);
    const id = await sendChatMessage(thread.dm, { clientId, text, ...(agentName ? { agentName } : {}) });
    const message = thread.ledger.appendSent({ id, clientId, text, sentAt: new Date(), ...(agentName ? { agentName } : {}) });
    this.#emit('message:new', message);
    this.#emit('conversation:updated', this.#summary(thread));
    return message;
  }

  receipt(conversationId: string, upToSeq: number, status: 'delivered' | 'read'): void {
    const thread = this.#threads.get(conversationId);
    // XMTP has read receipts only; `delivered` has no XMTP counterpart.
    if (!thread || status !== 'read' || !thread.ledger.markRead(upToSeq)) return;
    void sendReadReceipt(thread.dm).catch(() => undefined);
    this.#emit('conversation:updated', this.#summary(thread));
  }

  on<K extends keyof XmtpInboxEvents>(event: K, listener: XmtpInboxEvents[K]): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  close(): void {
    void this.#stream?.end();
    this.client.close();
    this.release();
  }

  #emit<K extends keyof XmtpInboxEvents>(event: K, ...args: Parameters<XmtpInboxEvents[K]>): void {
    for (const listener of this.#listeners.get(event) ?? []) (listener as (...a: unknown[]) => void)(...args);
  }

  #thread(conversationId: string): Thread {
    const thread = this.#threads.get(conversationId);
    if (!thread) throw new Error('not_found');
    return thread;
  }

  async #open(dm: AnyDm): Promise<Thread> {
    const id = `${XMTP_CONVERSATION_PREFIX}${dm.id}`;
    const existing = this.#threads.get(id);
    if (existing) return existing;
    const thread: Thread = {
      dm,
      ledger: new XmtpLedger(id, () => this.client.inboxId, 'agent'),
      peerInboxId: await dm.peerInboxId(),
    };
    this.#threads.set(id, thread);
    await this.#load(thread);
    return thread;
  }

  async #load(thread: Thread): Promise<void> {
    const messages = await thread.dm.messages({ direction: SortDirection.Ascending });
    for (const decoded of messages) this.#ingest(thread, decoded, false);
  }

  async #onStreamed(decoded: DecodedMessage<unknown>): Promise<void> {
    const id = `${XMTP_CONVERSATION_PREFIX}${decoded.conversationId}`;
    let thread = this.#threads.get(id);
    if (!thread) {
      // A visitor's first message: a DM this console has not seen yet.
      const conversation = await this.client.conversations.getConversationById(decoded.conversationId);
      if (!conversation || !('peerInboxId' in conversation)) return;
      thread = await this.#open(conversation);
      this.#emit('conversation:updated', this.#summary(thread));
      for (const message of thread.ledger.messages) this.#emit('message:new', message);
      return;
    }
    this.#ingest(thread, decoded, true);
  }

  #ingest(thread: Thread, decoded: DecodedMessage<unknown>, emit: boolean): void {
    const item = readXmtpMessage(decoded);
    if (item?.kind === 'chat' && item.bridgeConversationId) thread.bridgeConversationId = item.bridgeConversationId;
    const { added, statusChanges } = thread.ledger.ingest(decoded);
    if (!emit || (!added && statusChanges.length === 0)) return;
    if (added) this.#emit('message:new', added);
    for (const change of statusChanges) this.#emit('message:status', change);
    this.#emit('conversation:updated', this.#summary(thread));
  }

  #summary(thread: Thread): ConversationSummary {
    const { ledger } = thread;
    const last = ledger.messages.at(-1);
    const first = ledger.messages[0];
    const createdAt = thread.dm.createdAt?.toISOString() ?? first?.createdAt ?? new Date(0).toISOString();
    const visitorReadSeq = ledger.messages.reduce((max, m) => (m.author.role === 'agent' && m.status === 'read' ? Math.max(max, m.seq) : max), 0);
    // The web conversation the same visitor used while XMTP was unavailable, so agents can find both.
    const linked = thread.bridgeConversationId ? ` · web ${thread.bridgeConversationId.slice(0, 8)}` : '';
    return {
      id: ledger.conversationId,
      channel: 'xmtp',
      name: `XMTP ${thread.peerInboxId.slice(0, 6)}${linked}`,
      externalUserId: thread.peerInboxId,
      state: 'open',
      createdAt,
      lastActivityAt: last?.createdAt ?? createdAt,
      lastSeq: last?.seq ?? 0,
      rev: ledger.rev,
      agentReadSeq: ledger.readUpTo,
      visitorReadSeq,
      ...(last ? { lastMessage: { text: last.text, role: last.author.role, createdAt: last.createdAt, seq: last.seq } } : {}),
      unread: ledger.messages.filter((m) => m.author.role === 'visitor' && m.seq > ledger.readUpTo).length,
      visitorOnline: false,
    };
  }
}
