/**
 * `<anon-chat>`: the embeddable anonymous chat. The element holds properties and renders; connection, messages,
 * outbox and typing live in controllers (widget/controllers), the network behind the Transport seam.
 */
import { LitElement, adoptStyles, html, nothing, supportsAdoptingStyleSheets, svg, type CSSResult, type PropertyValues, type TemplateResult } from 'lit';
import type { ReplyByEmail } from '../protocol/events.ts';
import { MAX_TEXT_LENGTH } from '../protocol/limits.ts';
import { hasVisibleText } from '../protocol/text.ts';
import type { LocalMessage, Message } from '../protocol/message.ts';
import { afterPaint } from './after-paint.ts';
import { anonChatStyles } from './anon-chat.styles.ts';
import type { TransportFactory } from './controllers/chat-host.ts';
import { ConnectionController } from './controllers/connection-controller.ts';
import { ConversationController } from './controllers/conversation-controller.ts';
import { PanelDialogController } from './controllers/panel-dialog-controller.ts';
import { ScrollAnchorController, type ScrollSnapshot } from './controllers/scroll-anchor-controller.ts';
import { OutboxController } from './controllers/outbox-controller.ts';
import { TypingController } from './controllers/typing-controller.ts';
import { browserStorage, storageKeys } from './controllers/visitor-storage.ts';
import { emit } from './events.ts';
import type * as AttachmentsModule from './attachments/attachments-module.ts';
import type * as ReplyByEmailModule from './reply-by-email/reply-by-email-module.ts';
import type * as VisitorContextModule from './visitor-context/visitor-context-module.ts';
import { ATTACHMENTS_MODULE_FILE, REPLY_BY_EMAIL_MODULE_FILE, VISITOR_CONTEXT_MODULE_FILE } from './lazy-modules.ts';
import { newClientId } from './controllers/outbox.ts';
import { bodyText } from './ui/message-bubble.ts';
import type { WidgetStrings } from './i18n/en.ts';
import { fill } from './i18n/fill.ts';
import { renderPanel, styles as panelStyles } from './panel/chat-panel.ts';
import { textDirection } from './i18n/index.ts';
import { pageLanguage, pageStrings } from './i18n/page-strings.ts';
import { besideScript, scriptOrigin } from './script-origin.ts';
import type { ConnectionState } from './transports/transport.ts';

export type * from './events.ts';
export type { WidgetStrings } from './i18n/en.ts';

/** Instances by bridge + site: a second element for the same visitor stays inert, so SPAs render the chat once. */
const activeInstances = new Map<string, AnonChat>();

/**
 * The `<anon-chat>` custom element.
 *
 * @summary An anonymous chat launcher and panel that talks to an anon-chat bridge.
 *
 * @attr server - Bridge URL; defaults to the origin the script was loaded from.
 * @attr site - Site key.
 * @attr title - Panel title (property `heading`).
 * @attr greeting - First line of an empty conversation.
 * @attr position - `bottom-right` (default) or `bottom-left`.
 * @attr open - Panel open (reflected; property `isOpen`).
 * @attr locale - BCP 47 tag of the interface language; defaults to the page's.
 * @attr theme - `auto` (default), `light` or `dark`.
 * @attr nonce - CSP nonce for the style fallback in browsers without constructable style sheets.
 * @attr user-id - Verified site user's id (with `user-hash`).
 * @attr user-hash - Hex HMAC-SHA256(SITE_SECRET, user id), computed by the site's server.
 * @attr user-name - Verified site user's name, shown to agents.
 * @attr transport - `xmtp`: XMTP first with the bridge as fallback (anything else or absent: the bridge only).
 * @attr xmtp-peer - The support team's XMTP address (0x…) or inbox id; required for XMTP.
 * @attr xmtp-env - XMTP network: `production` (default), `dev` or `local`.
 * @attr xmtp-wallet - Boolean: the visitor's injected wallet is their XMTP identity instead of a browser key.
 * @attr xmtp-module - URL of anon-chat-xmtp.js when it is not next to the widget script (README.md "XMTP").
 * @attr allow-erase - Boolean: the visitor may delete their conversation from the header, after a confirmation.
 *
 * @fires anon-chat-erased - The conversation was erased (by the visitor, an agent or retention); the widget starts afresh. `detail: {}`
 * @fires anon-chat-open - The panel opened. `detail: {}`
 * @fires anon-chat-close - The panel closed. `detail: {}`
 * @fires anon-chat-message - A message from an agent arrived. `detail: { message }`
 * @fires anon-chat-status - An own message changed status. `detail: { clientId, messageId?, status, text, failure? }`
 * @fires anon-chat-unread - The unread count changed. `detail: { unread }`
 * @fires anon-chat-connection - The connection state changed. `detail: { state, transport }`
 *
 * @csspart root - The element's outer wrapper.
 * @csspart launcher - The round button that opens the panel.
 * @csspart badge - Unread count on the launcher.
 * @csspart panel - The chat window.
 * @csspart header - The panel's header bar.
 * @csspart title - The panel title.
 * @csspart availability - "Online"/"Away" line under the title.
 * @csspart transport - The transport in use (shown when XMTP is configured).
 * @csspart close-button - The header's close button.
 * @csspart erase-button - The header's "delete conversation" button (with `allow-erase`).
 * @csspart erase-confirm - The confirmation step of the erasure.
 * @csspart erase-yes - The button that confirms the erasure.
 * @csspart erase-no - The button that cancels the erasure.
 * @csspart connection - The connection banner (offline, reconnecting, not available).
 * @csspart messages - The scrolling message list.
 * @csspart loading - The "loading earlier messages" row.
 * @csspart greeting - The greeting of an empty conversation.
 * @csspart separator - A day separator.
 * @csspart message - One message row.
 * @csspart message-own - A row of the visitor's own message.
 * @csspart message-other - A row of an agent's message.
 * @csspart message-author - The agent's display name above their replies.
 * @csspart message-avatar - The initials avatar before the agent's name.
 * @csspart bubble - A message bubble.
 * @csspart bubble-own - The visitor's bubble.
 * @csspart bubble-other - An agent's bubble.
 * @csspart ticks - Status ticks of an own message; also `ticks-sending`, `ticks-sent`, `ticks-delivered`, `ticks-read`, `ticks-failed`.
 * @csspart failure - The reason a message was not delivered.
 * @csspart retry - The Retry button of a failed message.
 * @csspart typing - The "agent is typing" line.
 * @csspart new-messages - The "new messages" pill shown while scrolled up.
 * @csspart reply-by-email - The offer to be answered by e-mail while nobody is online (its form, or the saved address with Change).
 * @csspart composer - The message composer.
 * @csspart input - The message field.
 * @csspart counter - The remaining-characters counter.
 * @csspart send-button - The Send button.
 *
 * @cssproperty --anon-chat-accent - Brand colour: launcher, header, own bubbles; focus rings derive from it.
 * @cssproperty --anon-chat-accent-text - Text, times, ticks and focus rings on the accent colour.
 * @cssproperty --anon-chat-bg - Panel background.
 * @cssproperty --anon-chat-text - Text colour.
 * @cssproperty --anon-chat-muted - Times, separators, hints.
 * @cssproperty --anon-chat-border - Borders.
 * @cssproperty --anon-chat-surface - Greeting and composer field background.
 * @cssproperty --anon-chat-bubble-bg - Agent bubble background.
 * @cssproperty --anon-chat-bubble-text - Agent bubble text.
 * @cssproperty --anon-chat-danger - Failed messages.
 * @cssproperty --anon-chat-badge - Unread badge.
 * @cssproperty --anon-chat-font - Font family.
 * @cssproperty --anon-chat-radius - Bubble corners.
 * @cssproperty --anon-chat-panel-radius - Panel corners.
 * @cssproperty --anon-chat-width - Panel width (full screen below 480 px).
 * @cssproperty --anon-chat-height - Panel height.
 * @cssproperty --anon-chat-offset - Distance from the page corner.
 * @cssproperty --anon-chat-z-index - Stacking order.
 */
export class AnonChat extends LitElement {
  // The launcher's styles only: the panel's are adopted when the panel first renders (#init), after first paint.
  static override styles = [anonChatStyles];

  static override properties = {
    server: { type: String },
    site: { type: String },
    heading: { type: String, attribute: 'title' },
    greeting: { type: String },
    position: { type: String, reflect: true },
    isOpen: { type: Boolean, attribute: 'open', reflect: true },
    locale: { type: String },
    userId: { type: String, attribute: 'user-id' },
    userHash: { type: String, attribute: 'user-hash' },
    userName: { type: String, attribute: 'user-name' },
    theme: { type: String, reflect: true },
    strings: { attribute: false },
    transportFactory: { attribute: false },
    allowErase: { type: Boolean, attribute: 'allow-erase' },
    _draft: { state: true },
    _erase: { state: true },
    _inert: { state: true },
  };

  /** Bridge URL; defaults to the origin the script was loaded from. */
  server = '';
  /** Site key the bridge groups conversations by. */
  site = '';
  /** Panel title (the `title` attribute). */
  heading = '';
  /** First line shown in an empty conversation. */
  greeting = '';
  position: 'bottom-right' | 'bottom-left' = 'bottom-right';
  /** Whether the panel is open (the `open` attribute; the `open()` method opens it). */
  isOpen = false;
  /** BCP 47 language tag; defaults to the page's `lang`, then the browser's language. */
  locale = '';
  userId = '';
  userHash = '';
  /** Optional display name sent with the verified identity. */
  userName = '';
  /** `auto` (follows prefers-color-scheme), `light` or `dark`. */
  theme: 'auto' | 'light' | 'dark' = 'auto';
  /** Overrides of any built-in string. */
  strings: Partial<WidgetStrings> | undefined;
  /** Replaces the transport (the XMTP selector plugs in here); defaults to Socket.IO. */
  transportFactory: TransportFactory | undefined;
  /** The visitor may erase their conversation (the `allow-erase` attribute). */
  allowErase = false;

  declare _draft: string;
  declare _erase: 'idle' | 'confirm' | 'erasing' | 'failed';
  declare _inert: boolean;

  readonly #storage = browserStorage();
  #connection: ConnectionController | undefined;
  #conversation: ConversationController | undefined;
  #outbox: OutboxController | undefined;
  #typing: TypingController | undefined;
  readonly #scroll = new ScrollAnchorController(this, {
    // A closed panel has nothing to scroll, and a list in a dialog not yet shown has no layout: reading its geometry
    // would see an unfilled view and fetch older pages (opening scrolls down once the dialog shows).
    scroller: () => {
      const dialog = this.isOpen ? this.panelDialog() : null;
      return dialog?.open ? dialog.querySelector<HTMLElement>('.list') : null;
    },
    snapshot: (): ScrollSnapshot => {
      const conversation = this.#conversation;
      const all = conversation?.messages ?? [];
      const first = this.#scroll.visible(all)[0];
      const last = all[all.length - 1];
      return {
        conversationId: undefined,
        firstKey: first && `${first.author.role}:${first.clientId}`,
        lastKey: last && `${last.author.role}:${last.clientId}`,
        lastIsOwn: last?.author.role === 'visitor',
        total: all.length,
        hasMore: !!conversation?.hasOlder && !conversation.loadingOlder,
      };
    },
    loadOlder: () => void this.#conversation?.loadOlder(),
    // How many messages are in the DOM at first; scrolling up reveals more before fetching older history.
    renderWindow: 150,
    bottomPx: 48,
    topPx: 80,
    stickToBottom: true,
  });
  // Added after the scroll controller, and it would work the other way round too: the scroll controller anchors the
  // list when this one reports the dialog shown (constructor), not at whichever hostUpdated runs first.
  readonly #dialog = new PanelDialogController(this);
  #returnFocus: HTMLElement | undefined;
  #instanceKey = '';
  /** Cancels the scheduled #init while it has not run. */
  #cancelInit: (() => void) | undefined;
  /** Links, images, files and uploads, once their module has loaded (after the panel started). */
  #attachments: AttachmentsModule.WidgetAttachments | undefined;
  /** The reply-by-email offer, once a session offered it while nobody was online and its module loaded. */
  #replyByEmail: ReplyByEmailModule.WidgetReplyByEmail | undefined;
  #replyByEmailRequested = false;

  constructor() {
    super();
    this.#dialog.onShown(() => this.#scroll.shown());
    this._draft = '';
    this._inert = false;
  }

  /** The bridge URL in use. */
  get serverUrl(): string {
    return (this.server || scriptOrigin).replace(/\/+$/, '');
  }

  /** Unread messages from agents. */
  get unread(): number {
    return this.#conversation?.unread ?? 0;
  }

  /** Connection state: `connecting`, `online` or `offline`. */
  get connection(): ConnectionState {
    // Between the first paint and the connection starting, a widget in the document is about to connect.
    return this.#connection?.state ?? (this.isConnected && !this._inert ? 'connecting' : 'offline');
  }

  protected override createRenderRoot(): HTMLElement | DocumentFragment {
    // Lit reads `litNonce` when it has to fall back to <style> elements (no adoptedStyleSheets support).
    // The native `nonce` property keeps the value even after the browser hides the attribute (nonce hiding).
    const nonce = this.nonce || this.getAttribute('nonce') || '';
    const global = globalThis as { litNonce?: string };
    if (nonce && !global.litNonce) global.litNonce = nonce;
    return super.createRenderRoot();
  }

  override connectedCallback(): void {
    this.#instanceKey = `${this.serverUrl}|${this.site}`;
    const owner = activeInstances.get(this.#instanceKey);
    if (owner && owner !== this && owner.isConnected) {
      this._inert = true;
      super.connectedCallback();
      return;
    }
    activeInstances.set(this.#instanceKey, this);
    this._inert = false;
    super.connectedCallback();
    // The first render shows the launcher alone; storage, the connection and the panel start once it has painted
    // (an `open` widget, or any API call, starts them at once).
    if (!this.#connection && !this.#cancelInit) {
      this.#cancelInit = afterPaint(() => {
        this.#cancelInit = undefined;
        this.#init();
      });
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#releaseInstance();
  }

  #releaseInstance(): void {
    if (activeInstances.get(this.#instanceKey) === this) activeInstances.delete(this.#instanceKey);
  }

  /**
   * Everything past the launcher: reads the visitor's token, outbox and cached history, connects, and renders the
   * panel (hidden until opened). Idempotent; does nothing for an inert or detached element.
   */
  #init(): void {
    if (this.#connection || this._inert || !this.isConnected) return;
    this.#cancelInit?.();
    this.#cancelInit = undefined;
    const connection = new ConnectionController(this, this.#storage);
    const conversation = new ConversationController(this, connection);
    this.#connection = connection;
    this.#conversation = conversation;
    this.#outbox = new OutboxController(this, connection, conversation);
    this.#typing = new TypingController(this, connection);
    // Erased elsewhere (an agent, retention): a queued restart, not inside the transport's own event dispatch.
    connection.on('erased', () => void Promise.resolve().then(() => this.#startFresh()));
    // Started only now that every controller listens, as the handshake carries the cached history's revision.
    connection.start();
    if (this.renderRoot instanceof ShadowRoot) {
      // Constructable sheets are replaced as a whole; the <style> fallback (nonce) appends the panel's after ours.
      adoptStyles(this.renderRoot, supportsAdoptingStyleSheets ? [anonChatStyles, ...panelStyles] : panelStyles);
    }
    this.requestUpdate();
    // Not part of the initial load: a failed import leaves messages as plain text and the composer without files.
    this.#importModule(ATTACHMENTS_MODULE_FILE, (module: typeof AttachmentsModule) =>
      (this.#attachments = module.createWidgetAttachments(this, {
        token: () => connection.storage.read(connection.keys.token) as string | undefined,
        session: () => connection.session,
        locale: () => this.#locale(),
        newClientId,
        outbox: this.#outbox,
      })),
    );
    this.#importModule(VISITOR_CONTEXT_MODULE_FILE, (module: typeof VisitorContextModule) => module.reportVisitorContext(this, connection));
  }

  /**
   * Imports a module built next to the widget script (lazy-modules.ts), lets `loaded` keep what it creates, and adds
   * its stylesheet to the panel's. A failed import leaves the panel without that part.
   */
  #importModule<M>(file: string, loaded: (module: M) => { styles?: CSSResult }): void {
    import(/* @vite-ignore */ besideScript(file)).then((module: M) => {
      const { styles } = loaded(module);
      // A module with nothing to show adds no sheet (under the <style> fallback, an empty element of its own).
      if (styles && this.renderRoot instanceof ShadowRoot) {
        // Constructable sheets are replaced as a whole; the <style> fallback (nonce) appends the new one after the others.
        const sheets = [this.#attachments?.styles, this.#replyByEmail?.styles].filter((sheet) => sheet !== undefined);
        adoptStyles(this.renderRoot, supportsAdoptingStyleSheets ? [anonChatStyles, ...panelStyles, ...sheets] : [styles]);
      }
      this.requestUpdate();
    }, () => undefined);
  }

  /** The address offer while nobody is online, when the session offers replies by e-mail and the transport stores one. */
  #replyByEmailOffer(): ReplyByEmail | undefined {
    const connection = this.#connection;
    if (!connection?.transport?.setEmail || connection.state !== 'online' || connection.agentsOnline !== 0) return undefined;
    return connection.session?.replyByEmail;
  }


  /** Opens the panel and moves focus into it. */
  open(): void {
    this.isOpen = true;
  }

  /** Closes the panel; focus that was inside the widget returns to the launcher (or what had it before opening). */
  close(): void {
    this.isOpen = false;
  }

  /** Opens a closed panel, closes an open one. */
  toggle(): void {
    if (this.isOpen) this.close();
    else this.open();
  }

  /** Sends `text` as the visitor; resolves with the stored message once the bridge has it, rejects if refused. */
  send(text: string): Promise<Message> {
    return this.#send(text);
  }

  #send(text: string, files?: AttachmentsModule.DraftMessage): Promise<Message> {
    this.#init();
    if (!this.#outbox) return Promise.reject(new Error('anon-chat is not connected to the document'));
    this.#scroll.toBottomNextUpdate();
    return this.#outbox.send(text, files);
  }

  /** Links the conversation to a verified site user (userHash = hex HMAC-SHA256(site secret, userId)). */
  identify(identity: { userId: string; userHash: string; name?: string }): void {
    this.userId = identity.userId;
    this.userHash = identity.userHash;
    this.userName = identity.name ?? '';
    this.#connection?.restart();
  }

  /** Forgets the visitor: new anonymous identity, outbox and cached history cleared. */
  reset(): void {
    // The stored identity, outbox and history are forgotten even when called before the widget started.
    this.#init();
    this.userId = '';
    this.userHash = '';
    this.userName = '';
    this.#asNewVisitor();
  }

  /** The conversation is gone on the bridge: forget its token, outbox and history, and connect as a new visitor. */
  #startFresh(): void {
    this._erase = 'idle';
    this.#asNewVisitor();
    emit(this, 'anon-chat-erased', {});
  }

  /** Forgets the visitor's token, outbox, history and drafted files, and connects again as a new anonymous visitor. */
  #asNewVisitor(): void {
    this.#connection?.stop();
    this.#connection?.forgetToken();
    this.#outbox?.clear();
    this.#conversation?.clear();
    this.#attachments?.clear();
    this.#connection?.start();
  }

  #onEraseConfirm = (): void => {
    const transport = this.#connection?.transport;
    if (!transport?.erase) return;
    this._erase = 'erasing';
    transport.erase().then(
      () => this.#startFresh(),
      () => {
        this._erase = 'failed';
      },
    );
  };

  protected override willUpdate(changed: PropertyValues<this>): void {
    // Opening (the launcher, the API or the `open` attribute) needs the panel and the conversation in this render.
    if (this.isOpen) this.#init();
    // The reply-by-email offer's module, the first time a session offers it while nobody is online.
    if (!this.#replyByEmailRequested && this.#replyByEmailOffer()) {
      this.#replyByEmailRequested = true;
      this.#importModule(REPLY_BY_EMAIL_MODULE_FILE, (module: typeof ReplyByEmailModule) =>
        (this.#replyByEmail = module.createReplyByEmail(this, this.#connection!)),
      );
    }
    if (changed.has('isOpen') && this.isOpen) {
      this.#scroll.toBottomNextUpdate();
      const active = document.activeElement;
      this.#returnFocus = active instanceof HTMLElement && active !== this ? active : undefined;
    }
  }

  protected override updated(changed: PropertyValues<this>): void {
    const key = `${this.serverUrl}|${this.site}`;
    if (!this.#connection && key !== this.#instanceKey && !this._inert) {
      // Not started yet: #init will read the new visitor's keys; only the instance registry follows.
      this.#releaseInstance();
      activeInstances.set(key, this);
      this.#instanceKey = key;
    }
    if (this.#connection && key !== this.#instanceKey && (changed.has('server') || changed.has('site'))) {
      // Another bridge or site is another visitor: its own token, outbox and history.
      this.#releaseInstance();
      activeInstances.set(key, this);
      this.#instanceKey = key;
      this.#connection.stop();
      this.#connection.keys = storageKeys(this.serverUrl, this.site);
      this.#conversation?.switchVisitor();
      this.#outbox?.reload();
      this.#connection.start();
    }
    // Whatever opened or closed the panel (the launcher, Escape, the API, the `open` attribute), tell the page: README.md
    // "Events" says why a change the page made itself is announced too.
    if (changed.has('isOpen') && changed.get('isOpen') !== undefined) this.#afterToggle();
  }

  #afterToggle(): void {
    if (this.isOpen) {
      emit(this, 'anon-chat-open', {});
      this.#input()?.focus();
      this.#conversation?.markRead();
      return;
    }
    emit(this, 'anon-chat-close', {});
    // Only take focus back when it was inside the widget; a host page that closed it may have put focus elsewhere.
    if (document.activeElement === this) {
      const target = this.#returnFocus?.isConnected ? this.#returnFocus : this.renderRoot.querySelector<HTMLElement>('.launcher');
      target?.focus();
    }
    this.#returnFocus = undefined;
  }

  /** The panel's dialog, once rendered (PanelDialogController shows and hides it). */
  panelDialog(): HTMLDialogElement | null {
    return this.renderRoot?.querySelector?.<HTMLDialogElement>('dialog.panel') ?? null;
  }

  #input(): HTMLTextAreaElement | null {
    return this.renderRoot.querySelector<HTMLTextAreaElement>('.input');
  }

  #locale(): string {
    return this.locale || document.documentElement.lang || navigator.language || 'en';
  }

  #onSubmit = (event: Event): void => {
    event.preventDefault();
    const text = this._draft;
    const attachments = this.#attachments;
    if (attachments?.uploading || text.length > MAX_TEXT_LENGTH) return;
    const files = attachments?.take();
    if (!hasVisibleText(text) && !files) return;
    this._draft = '';
    this.#typing?.stop();
    // The promise is for API callers; here the outcome shows on the message itself.
    this.#send(text, files).catch(() => {});
  };

  #onKeydown = (event: KeyboardEvent): void => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.#onSubmit(event);
    }
  };

  #onInput = (event: Event): void => {
    this._draft = (event.target as HTMLTextAreaElement).value;
    this.#typing?.input(this._draft);
  };

  // On the root, not the panel: Escape closes the open panel from the launcher too.
  #onRootKeydown = (event: KeyboardEvent): void => {
    if (event.key === 'Escape' && this.isOpen) {
      event.stopPropagation();
      this.close();
    }
  };

  #onRetry = (message: LocalMessage): void => {
    if (message.failure?.code === 'text_too_long') {
      // Sending it again cannot work: give the text back to the composer to shorten.
      const text = this.#outbox?.discard(message.clientId);
      if (text !== undefined) {
        this._draft = text;
        void this.updateComplete.then(() => this.#input()?.focus());
      }
      return;
    }
    this.#outbox?.retry(message.clientId);
  };

  override render(): TemplateResult | typeof nothing {
    if (this._inert) return nothing;
    const locale = this.#locale();
    const s = pageStrings(locale, this.strings, () => this.requestUpdate());
    const connection = this.#connection;
    const conversation = this.#conversation;
    const unread = conversation?.unread ?? 0;
    const launcherLabel = `${this.isOpen ? s.closeChat : s.openChat}${unread ? ` (${fill(s.unreadCount, { count: unread })})` : ''}`;
    const all = conversation?.messages ?? [];
    // Announced from outside the panel, so a reply is heard while the panel is closed too.
    const last = conversation?.lastReceived;
    // The UI's language and direction: what the strings are written in, whatever the host page uses.
    const lang = pageLanguage(locale, this.strings);
    const replyByEmail = this.#replyByEmailOffer();
    return html`<div
      class="root ${this.position === 'bottom-left' ? 'left' : 'right'}"
      part="root"
      lang=${lang}
      dir=${textDirection(lang)}
      @keydown=${this.#onRootKeydown}
    >
      <button
        class="launcher"
        part="launcher"
        type="button"
        aria-label=${launcherLabel}
        aria-expanded=${this.isOpen ? 'true' : 'false'}
        aria-controls="panel"
        @click=${() => this.toggle()}
      >
        <svg viewBox="0 0 24 24" width="26" height="26" aria-hidden="true" focusable="false">
          ${this.isOpen
            ? svg`<path d="M6 6l12 12M18 6L6 18" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" fill="none" />`
            : svg`<path d="M4 5.5A2.5 2.5 0 0 1 6.5 3h11A2.5 2.5 0 0 1 20 5.5v8a2.5 2.5 0 0 1-2.5 2.5H10l-4.5 4v-4A2.5 2.5 0 0 1 4 13.5z" fill="currentColor" />`}
        </svg>
        ${unread && !this.isOpen ? html`<span class="badge" part="badge" aria-hidden="true">${unread > 99 ? '99+' : unread}</span>` : nothing}
      </button>
      ${!this.#connection ? nothing : renderPanel({
            heading: this.heading,
            greeting: this.greeting,
            locale,
            strings: s,
            state: connection?.state ?? 'offline',
            originRefused: connection?.originRefused ?? false,
            transport: connection?.kind ?? 'realtime',
            agentsOnline: connection?.agentsOnline ?? 0,
            messages: this.#scroll.visible(all),
            hasOlder: (conversation?.hasOlder ?? false) || all.length > this.#scroll.window,
            loadingOlder: conversation?.loadingOlder ?? false,
            agentTyping: this.#typing?.agentTyping,
            draft: this._draft,
            pill: this.#scroll.pill,
            onClose: () => this.close(),
            onScroll: () => this.#scroll.onScroll(),
            onSubmit: this.#onSubmit,
            onInput: this.#onInput,
            onComposerKeydown: this.#onKeydown,
            onPill: () => this.#scroll.toBottom(),
            onRetry: this.#onRetry,
            allowErase: this.allowErase && !!connection?.transport?.erase,
            erase: this._erase ?? 'idle',
            replyByEmail: replyByEmail && this.#replyByEmail?.render(s, lang, replyByEmail),
            onErase: () => {
              this._erase = 'confirm';
              void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>('.erase-no')?.focus());
            },
            onEraseConfirm: this.#onEraseConfirm,
            onEraseCancel: () => {
              this._erase = 'idle';
            },
            // Files go over the bridge only: an XMTP conversation stays text.
            attachments: connection?.kind === 'realtime' ? this.#attachments : undefined,
          })}
      <div class="sr-only" aria-live="polite" aria-atomic="true">
        ${last ? fill(s.announceMessage, { name: last.author.name || s.agent, text: bodyText(last) }) : ''}
      </div>
    </div>`;
  }
}

if (!customElements.get('anon-chat')) customElements.define('anon-chat', AnonChat);

declare global {
  interface HTMLElementTagNameMap {
    'anon-chat': AnonChat;
  }
}
