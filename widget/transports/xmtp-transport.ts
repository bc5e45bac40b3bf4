/**
 * The visitor's conversation over XMTP: one DM between the visitor's inbox and the support team's (`xmtp-peer`),
 * end-to-end encrypted, so the bridge never sees its text. This file is the entry of the lazily loaded XMTP module
 * (dist/widget/anon-chat-xmtp.js); nothing in the initial widget bundle imports it.
 */
import {
  Client,
  IdentifierKind,
  SortDirection,
  type ClientOptions,
  type DecodedMessage,
  type Dm,
  type Signer,
} from '@xmtp/browser-sdk';
import type { ContentCodec } from '@xmtp/content-type-primitives';
import type { MessagePage, SyncResult } from '../../protocol/events.ts';
import { MAX_TEXT_LENGTH } from '../../protocol/limits.ts';
import type { Message } from '../../protocol/message.ts';
import { chatMessageCodec, encodeChatMessage } from '../xmtp/chat-message-codec.ts';
import { assertXmtpCanRun, takeDatabaseLock } from '../xmtp/environment.ts';
import { localKeySigner, walletSigner, type Eip1193Provider } from '../xmtp/visitor-identity.ts';
import { readXmtpMessage } from '../xmtp/xmtp-message.ts';
import {
  TransportError,
  type ConnectionState,
  type OutgoingMessage,
  type Transport,
  type TransportEvents,
} from './transport.ts';

/** The XMTP networks a site can choose with `xmtp-env`. */
export type XmtpNetwork = 'dev' | 'production' | 'local';

/** How the XMTP transport is configured (from the element's attributes). */
export interface XmtpTransportOptions {
  env: XmtpNetwork;
  /** The support team's Ethereum address (0x…) or XMTP inbox id. */
  peer: string;
  /** `wallet`: sign with the injected EIP-1193 wallet; `local`: a key generated and kept in this browser. */
  identity: 'local' | 'wallet';
  storage?: Storage;
  ethereum?: Eip1193Provider;
  /** The visitor's bridge conversation, tagged on each message so agents can show both as one thread. */
  bridgeConversationId?: () => string | undefined;
  /** Overrides the env's API URL (a self-hosted node). */
  apiUrl?: string;
}

type Listeners = { [K in keyof TransportEvents]: Set<TransportEvents[K]> };
type AnyClient = Client<unknown>;
type AnyDm = Dm<unknown>;
type Stream = Awaited<ReturnType<AnyDm['stream']>>;

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const nsOf = (date: Date): bigint => BigInt(date.getTime()) * 1_000_000n;

/** Creates the XMTP transport; the selector calls this after loading this module. */
export function createXmtpTransport(options: XmtpTransportOptions): Transport {
  return new XmtpTransport(options);
}

/** XMTP DM transport implementing the widget's `Transport`. */
export class XmtpTransport implements Transport {
  readonly kind = 'xmtp' as const;
  readonly #options: XmtpTransportOptions;
  #state: ConnectionState = 'connecting';
  #client: AnyClient | undefined;
  #dm: AnyDm | undefined;
  #stream: Stream | undefined;
  #releaseLock: (() => void) | undefined;
  #connecting: Promise<void> | undefined;
  /** Bumped by disconnect(): an init still running from before must not install what it builds. */
  #generation = 0;

  // The local ledger: XMTP has no seq or rev, so they are numbered here in arrival order.
  readonly #ledger: Message[] = [];
  readonly #byXmtpId = new Map<string, Message>();
  readonly #sentAtNs = new Map<string, bigint>();
  #rev = 0;
  #peerReadNs = 0n;
  #readReceiptUpTo = 0;

  readonly #listeners: Listeners = {
    message: new Set(),
    status: new Set(),
    typing: new Set(),
    presence: new Set(),
    session: new Set(),
    state: new Set(),
    kind: new Set(),
    error: new Set(),
  };

  constructor(options: XmtpTransportOptions) {
    this.#options = options;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** Initialises (or, after a failure, re-checks) the client and the DM; coalesces concurrent calls. */
  connect(): Promise<void> {
    this.#connecting ??= this.#connectOnce().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  disconnect(): void {
    this.#generation += 1;
    this.#teardown();
    this.#setState('offline');
  }

  async send(message: OutgoingMessage): Promise<Message> {
    if (message.text.trim().length === 0) throw new TransportError('text_empty', 'Message is empty', true);
    if (message.text.length > MAX_TEXT_LENGTH) throw new TransportError('text_too_long', 'Message is too long', true);
    const dm = this.#dm;
    if (!dm || this.#state !== 'online') throw new TransportError('offline', 'XMTP is not connected', false);
    const bridgeConversationId = this.#options.bridgeConversationId?.();
    let id: string;
    try {
      id = await dm.send(
        encodeChatMessage({ clientId: message.clientId, text: message.text, ...(bridgeConversationId ? { bridgeConversationId } : {}) }),
        // The clientId as idempotency key: a retry of the same message is the same XMTP message.
        { shouldPush: true, idempotencyKey: message.clientId },
      );
    } catch {
      throw new TransportError('offline', 'XMTP send failed', false);
    }
    const known = this.#byXmtpId.get(id);
    if (known) return known;
    const now = new Date();
    return this.#append({
      id,
      senderIsVisitor: true,
      clientId: message.clientId,
      text: message.text,
      sentAt: now,
      sentAtNs: nsOf(now),
      emit: false,
    });
  }

  async sync(afterRev: number): Promise<SyncResult> {
    const dm = this.#dm;
    if (!dm) throw new TransportError('offline', 'XMTP is not connected', false);
    try {
      await dm.sync();
      await this.#load(dm);
    } catch {
      throw new TransportError('offline', 'XMTP sync failed', false);
    }
    return { messages: this.#ledger.filter((m) => m.rev > afterRev), rev: this.#rev, hasMore: false };
  }

  async history(beforeSeq?: number, limit = 50): Promise<MessagePage> {
    const older = this.#ledger.filter((m) => beforeSeq === undefined || m.seq < beforeSeq);
    return { messages: older.slice(-limit), hasMore: older.length > limit };
  }

  receipt(upToSeq: number, status: 'delivered' | 'read'): void {
    // XMTP has read receipts but no delivery receipts: `delivered` cannot be told over XMTP.
    if (status !== 'read' || upToSeq <= this.#readReceiptUpTo) return;
    const unreadFromAgent = this.#ledger.some(
      (m) => m.author.role === 'agent' && m.seq > this.#readReceiptUpTo && m.seq <= upToSeq,
    );
    this.#readReceiptUpTo = upToSeq;
    if (unreadFromAgent) void this.#dm?.sendReadReceipt().catch(() => undefined);
  }

  typing(): void {
    // XMTP has no typing content type; the fallback transport sends typing over the bridge.
  }

  on<K extends keyof TransportEvents>(event: K, listener: TransportEvents[K]): () => void {
    this.#listeners[event].add(listener);
    return () => this.#listeners[event].delete(listener);
  }

  #emit<K extends keyof TransportEvents>(event: K, ...args: Parameters<TransportEvents[K]>): void {
    for (const listener of this.#listeners[event]) (listener as (...a: Parameters<TransportEvents[K]>) => void)(...args);
  }

  #setState(state: ConnectionState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#emit('state', state);
  }

  async #connectOnce(): Promise<void> {
    const generation = this.#generation;
    const current = () => {
      if (generation !== this.#generation) throw new TransportError('offline', 'XMTP transport closed', false);
    };
    if (this.#client && this.#dm) {
      // Already initialised: a recovery probe only needs the network to answer again.
      try {
        await this.#dm.sync();
        await this.#load(this.#dm);
        this.#stream ??= await this.#startStream(this.#dm);
        current();
        this.#setState('online');
        return;
      } catch (error) {
        this.#setState('offline');
        throw asTransportError(error);
      }
    }
    this.#setState('connecting');
    try {
      await assertXmtpCanRun();
      const release = await takeDatabaseLock(`anon-chat-xmtp:${this.#options.env}`);
      if (generation !== this.#generation) {
        release();
        current();
      }
      this.#releaseLock = release;
      const signer = await this.#signer();
      const client = await this.#openClient(signer, current);
      const dm = ADDRESS.test(this.#options.peer)
        ? await client.conversations.createDmWithIdentifier({
            identifier: this.#options.peer.toLowerCase(),
            identifierKind: IdentifierKind.Ethereum,
          })
        : await client.conversations.createDm(this.#options.peer);
      current();
      this.#dm = dm;
      await dm.sync();
      await this.#load(dm);
      this.#stream = await this.#startStream(dm);
      current();
      this.#setState('online');
    } catch (error) {
      if (generation === this.#generation) this.#teardown();
      this.#setState('offline');
      throw asTransportError(error);
    }
  }

  async #signer(): Promise<Signer> {
    if (this.#options.identity === 'wallet') {
      const provider = this.#options.ethereum ?? (globalThis as { ethereum?: Eip1193Provider }).ethereum;
      if (!provider) throw new TransportError('offline', 'No injected wallet', false);
      return walletSigner(provider);
    }
    const storage = this.#options.storage ?? globalThis.localStorage;
    return localKeySigner(storage, this.#options.env);
  }

  #clientOptions(): ClientOptions {
    return {
      env: this.#options.env,
      ...(this.#options.apiUrl ? { apiUrl: this.#options.apiUrl } : {}),
      appVersion: 'anon-chat/0.1',
      // One visitor, one browser: device sync would only add sync groups and traffic.
      disableDeviceSync: true,
      // The SDK's codec list is untyped (ContentCodec<unknown>); the codec decodes to ChatMessageContent.
      codecs: [chatMessageCodec as unknown as ContentCodec],
    };
  }

  /**
   * Opens the client, reusing the installation stored in this browser's database. Built with the constructor rather
   * than `Client.create` so a hung init can be cancelled (close() ends its worker and frees the OPFS handles);
   * `Client.create` (which registers) is only used the first time, after the network has answered once.
   */
  async #openClient(signer: Signer, current: () => void): Promise<AnyClient> {
    const identifier = await signer.getIdentifier();
    const existing = new Client(this.#clientOptions()) as AnyClient;
    this.#client = existing;
    await existing.init(identifier);
    current();
    if (await existing.isRegistered()) return existing;
    existing.close();
    this.#client = undefined;
    const created = (await Client.create(signer, this.#clientOptions())) as unknown as AnyClient;
    this.#client = created;
    current();
    if (this.#options.identity === 'local') {
      // A local key lives in one browser only: any other installation is a lost copy (cleared site data), and
      // revoking them keeps the inbox below XMTP's installation limit. Never done for a user's own wallet.
      await created.revokeAllOtherInstallations().catch(() => undefined);
    }
    return created;
  }

  async #startStream(dm: AnyDm): Promise<Stream> {
    return dm.stream({
      disableSync: true,
      onValue: (decoded) => this.#ingest(decoded, true),
      onFail: () => {
        this.#stream = undefined;
        this.#setState('offline');
      },
      onError: () => undefined,
    });
  }

  async #load(dm: AnyDm): Promise<void> {
    const messages = await dm.messages({ direction: SortDirection.Ascending });
    for (const decoded of messages) this.#ingest(decoded, false);
  }

  #ingest(decoded: DecodedMessage<unknown>, emit: boolean): void {
    const item = readXmtpMessage(decoded as DecodedMessage);
    if (!item || this.#byXmtpId.has(item.id)) return;
    const mine = item.senderInboxId === this.#client?.inboxId;
    if (item.kind === 'read') {
      if (!mine) this.#peerRead(item.sentAtNs, item.sentAt, emit);
      return;
    }
    this.#append({
      id: item.id,
      senderIsVisitor: mine,
      clientId: item.clientId,
      text: item.text,
      sentAt: item.sentAt,
      sentAtNs: item.sentAtNs,
      ...(item.agentName ? { agentName: item.agentName } : {}),
      emit,
    });
  }

  #append(input: {
    id: string;
    senderIsVisitor: boolean;
    clientId: string;
    text: string;
    sentAt: Date;
    sentAtNs: bigint;
    agentName?: string;
    emit: boolean;
  }): Message {
    const createdAt = input.sentAt.toISOString();
    const read = input.senderIsVisitor && input.sentAtNs <= this.#peerReadNs;
    const message: Message = {
      id: input.id,
      conversationId: this.#dm?.id ?? '',
      seq: this.#ledger.length + 1,
      rev: ++this.#rev,
      clientId: input.clientId,
      author: input.senderIsVisitor
        ? { role: 'visitor' }
        : { role: 'agent', ...(input.agentName ? { name: input.agentName } : {}) },
      text: input.text,
      createdAt,
      status: read ? 'read' : 'sent',
      statusAt: read ? { sent: createdAt, read: createdAt } : { sent: createdAt },
    };
    this.#ledger.push(message);
    this.#byXmtpId.set(message.id, message);
    this.#sentAtNs.set(message.id, input.sentAtNs);
    if (input.emit) this.#emit('message', message);
    return message;
  }

  /** A read receipt from the support team: every visitor message sent before it is read. */
  #peerRead(atNs: bigint, at: Date, emit: boolean): void {
    if (atNs <= this.#peerReadNs) return;
    this.#peerReadNs = atNs;
    for (const message of this.#ledger) {
      if (message.author.role !== 'visitor' || message.status === 'read') continue;
      if ((this.#sentAtNs.get(message.id) ?? 0n) > atNs) continue;
      message.status = 'read';
      message.statusAt = { ...message.statusAt, read: at.toISOString() };
      message.rev = ++this.#rev;
      if (emit) {
        this.#emit('status', {
          conversationId: message.conversationId,
          messageId: message.id,
          clientId: message.clientId,
          seq: message.seq,
          rev: message.rev,
          status: 'read',
          at: at.toISOString(),
        });
      }
    }
  }

  #teardown(): void {
    void this.#stream?.end();
    this.#stream = undefined;
    this.#client?.close();
    this.#client = undefined;
    this.#dm = undefined;
    this.#releaseLock?.();
    this.#releaseLock = undefined;
  }
}

function asTransportError(error: unknown): TransportError {
  if (error instanceof TransportError) return error;
  return new TransportError('offline', 'XMTP unavailable', false);
}
