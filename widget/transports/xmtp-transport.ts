/**
 * The visitor's conversation over XMTP: one DM between the visitor's inbox and the support team's (`xmtp-peer`),
 * end-to-end encrypted, so the bridge never sees its text. This file is the entry of the lazily loaded XMTP module
 * (dist/widget/anon-chat-xmtp.js); nothing in the initial widget bundle imports it.
 */
import { SortDirection, type DecodedMessage, type Dm, type Signer } from '@xmtp/browser-sdk';
import type { MessagePage, SyncResult } from '../../protocol/events.ts';
import { textProblem } from '../../protocol/text.ts';
import type { Message } from '../../protocol/message.ts';
import { assertXmtpCanRun, takeDatabaseLock } from '../xmtp/environment.ts';
import { openXmtpClient, type AnyClient } from '../xmtp/open-client.ts';
import { sendChatMessage, sendReadReceipt } from '../xmtp/send.ts';
import { localKeySigner, walletSigner, type Eip1193Provider } from '../xmtp/visitor-identity.ts';
import { XmtpLedger } from '../xmtp/xmtp-ledger.ts';
import {
  TransportError,
  type ConnectionState,
  type OutgoingMessage,
  type Transport,
  type TransportEvents,
} from './transport.ts';
import { TransportListeners } from './transport-listeners.ts';

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

type AnyDm = Dm<unknown>;
type Stream = Awaited<ReturnType<AnyDm['stream']>>;

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

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

  /** The DM's messages, numbered here (XMTP has no seq or rev); replaced when the DM is opened. */
  #ledger = new XmtpLedger('', () => undefined, 'visitor');

  readonly #events = new TransportListeners();

  constructor(options: XmtpTransportOptions) {
    this.#options = options;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** Initialises (or, after a failure, re-checks) the client and the DM; coalesces concurrent calls. */
  connect(): Promise<void> {
    if (this.#connecting) return this.#connecting;
    const connecting = this.#connectOnce().finally(() => {
      if (this.#connecting === connecting) this.#connecting = undefined;
    });
    this.#connecting = connecting;
    return connecting;
  }

  /** Stops everything, including an init still running (its worker ends); connect() may start again later. */
  disconnect(): void {
    this.#generation += 1;
    this.#connecting = undefined;
    this.#teardown();
    this.#setState('offline');
  }

  async send(message: OutgoingMessage): Promise<Message> {
    const problem = textProblem(message.text);
    if (problem) throw new TransportError(problem, 'Message cannot be sent', true);
    const dm = this.#dm;
    if (!dm || this.#state !== 'online') throw new TransportError('offline', 'XMTP is not connected', false);
    const bridgeConversationId = this.#options.bridgeConversationId?.();
    let id: string;
    try {
      id = await sendChatMessage(dm, {
        clientId: message.clientId,
        text: message.text,
        ...(bridgeConversationId ? { bridgeConversationId } : {}),
      });
    } catch {
      throw new TransportError('offline', 'XMTP send failed', false);
    }
    return this.#ledger.appendSent({ id, clientId: message.clientId, text: message.text, sentAt: new Date() });
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
    return { messages: this.#ledger.since(afterRev), rev: this.#ledger.rev, hasMore: false };
  }

  async history(beforeSeq?: number, limit = 50): Promise<MessagePage> {
    return this.#ledger.page(beforeSeq, limit);
  }

  receipt(upToSeq: number, status: 'delivered' | 'read'): void {
    // XMTP has read receipts but no delivery receipts: `delivered` cannot be told over XMTP.
    if (status === 'read' && this.#ledger.markRead(upToSeq)) if (this.#dm) void sendReadReceipt(this.#dm).catch(() => undefined);
  }

  typing(): void {
    // XMTP has no typing content type; the fallback transport sends typing over the bridge.
  }

  on<K extends keyof TransportEvents>(event: K, listener: TransportEvents[K]): () => void {
    return this.#events.on(event, listener);
  }

  #setState(state: ConnectionState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#events.emit('state', state);
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
      const client = await openXmtpClient({
        env: this.#options.env,
        ...(this.#options.apiUrl ? { apiUrl: this.#options.apiUrl } : {}),
        signer,
        identity: this.#options.identity,
        track: (opened) => {
          this.#client = opened;
        },
        current,
      });
      const dm = ADDRESS.test(this.#options.peer)
        ? await client.conversations.newDmWithIdentifier({ identifier: this.#options.peer.toLowerCase(), identifierKind: 'Ethereum' })
        : await client.conversations.newDm(this.#options.peer);
      current();
      this.#dm = dm;
      if (this.#ledger.conversationId !== dm.id) this.#ledger = new XmtpLedger(dm.id, () => this.#client?.inboxId, 'visitor');
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

  async #startStream(dm: AnyDm): Promise<Stream> {
    return dm.stream({
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
    const { added, statusChanges } = this.#ledger.ingest(decoded);
    if (!emit) return;
    if (added) this.#events.emit('message', added);
    for (const change of statusChanges) this.#events.emit('status', change);
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
