/** `<anon-console>`: the agent console application (sign-in, inbox, conversation view). */
import { LitElement, html, nothing } from 'lit';
import { baseStyles } from './components/shared.styles.ts';
import { consoleStyles } from './anon-console.styles.ts';
import { logoMark } from './components/logo.ts';
import { SessionController } from './controllers/session-controller.ts';
import { ConnectionController } from './controllers/connection-controller.ts';
import { InboxController } from './controllers/inbox-controller.ts';
import { ThreadController } from './controllers/thread-controller.ts';
import { AttentionController } from './controllers/attention-controller.ts';
import { MediaQueryController } from './controllers/media-query-controller.ts';
import { LocationController } from './controllers/location-controller.ts';
import { TeamController } from './controllers/team-controller.ts';
import { TeamDirectoryController } from './controllers/team-directory-controller.ts';
import { VisibilityController } from './controllers/visibility-controller.ts';
import { unsubscribeThisBrowser } from './controllers/push-controller.ts';
import type { AgentRestOptions } from './agent-rest.ts';
import { VisitorContextController } from './controllers/visitor-context-controller.ts';
import { hueClass, initials } from './labels.ts';
import type { LocalMessage } from '../protocol/message.ts';
import type { AgentCreatePayload, AgentUpdatePayload } from '../protocol/schemas.ts';
import './components/console-sign-in.ts';
import './components/console-inbox.ts';
import './components/console-thread.ts';
import './components/console-team.ts';
import './components/console-saved-replies.ts';
import './components/console-invite.ts';
import './components/console-account.ts';
import './components/console-business-hours.ts';
import './components/console-assignment-settings.ts';
import './components/console-visitor-context.ts';
import type { AccountFormResult } from './components/console-account.ts';

const bellIcon = html`<svg width="18" height="18" viewBox="0 0 20 20" aria-hidden="true" focusable="false"><path d="M10 2.5a5 5 0 0 0-5 5v3.2L3.6 13.3c-.3.6.1 1.2.8 1.2h11.2c.7 0 1.1-.6.8-1.2L15 10.7V7.5a5 5 0 0 0-5-5Z" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linejoin="round"/><path d="M8 16.5a2 2 0 0 0 4 0" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/></svg>`;

const CONNECTION_TEXT = { online: 'Connected', connecting: 'Reconnecting…', offline: 'Offline' } as const;

/**
 * The agent console. All behaviour lives in its controllers; this element wires their events and renders.
 * @cssproperty --anon-chat-accent - accent colour (buttons, own bubbles, unread badges).
 */
export class AnonConsole extends LitElement {
  static override styles = [baseStyles, consoleStyles];
  static override properties = { server: { type: String }, locale: { type: String }, page: { state: true } };

  /** Bridge URL; defaults to the page's origin (the bridge serves the console). */
  declare server: string;
  /** Locale for times and dates; defaults to the browser's. */
  declare locale: string;
  /** What the signed-in agent looks at: conversations, or (admins) the Team page. */
  declare page: 'inbox' | 'team' | 'account';
  /** What the My account forms last heard back (cleared when the page is opened again). */
  private profileResult: AccountFormResult;
  private passwordResult: AccountFormResult;
  /** The secret of the invite link this console was opened with (`#invite=…`), until it is used. */
  private invite = /^#invite=([A-Za-z0-9_-]{20,200})$/.exec(window.location.hash)?.[1];

  private readonly session = new SessionController(this, () => this.serverUrl);
  private readonly connection = new ConnectionController(this, {
    serverUrl: () => this.serverUrl,
    token: () => this.session.session?.token,
    agentName: () => this.session.session?.agent.displayName,
    onAuthError: () => this.session.signOut('Your session ended. Sign in again.'),
  });
  // Replies carry the display name (what visitors see); the optimistic copy shows the same.
  private readonly thread = new ThreadController(this, {
    agent: () => {
      const agent = this.session.session?.agent;
      return agent && { id: agent.id, name: agent.displayName };
    },
  });
  private readonly inbox = new InboxController(this, {
    openConversationId: () => this.thread.conversationId,
    onVisitorMessage: (message) => this.attention.notify(message.conversationId === this.thread.conversationId),
    onErased: (conversationId) => {
      if (this.thread.conversationId !== conversationId) return;
      this.thread.close();
      this.location.set(undefined);
    },
    agentId: (): string | undefined => this.session.session?.agent.id,
  });
  private readonly directory = new TeamDirectoryController(this, {
    serverUrl: () => this.serverUrl,
    token: () => this.session.session?.token,
  });
  private readonly team = new TeamController(this, {
    serverUrl: () => this.serverUrl,
    token: () => this.session.session?.token,
  });
  /** REST access for parts that call the bridge themselves (the notification opt-in). */
  private readonly rest: AgentRestOptions = { serverUrl: () => this.serverUrl, token: () => this.session.session?.token };
  private readonly visibility = new VisibilityController(this);
  private readonly attention = new AttentionController(this, () => this.inbox.unreadTotal);
  private readonly narrow = new MediaQueryController(this, '(max-width: 719px)');
  /** Room for the visitor-context panel beside the conversation; below, it is a collapsible section above it. */
  private readonly roomy = new MediaQueryController(this, '(min-width: 1100px)');
  private readonly visitorContext = new VisitorContextController(this, () => {
    const id = this.thread.conversationId;
    const channel = id ? (this.thread.summary ?? this.inbox.find(id))?.channel : undefined;
    return channel === 'web' ? id : undefined;
  });
  private readonly location = new LocationController(this, (id) => {
    if (this.session.session) void this.thread.open(id, undefined);
  });

  constructor() {
    super();
    this.server = '';
    this.locale = '';
    this.page = 'inbox';
    this.connection.use(this.inbox);
    this.connection.use(this.thread);
    this.connection.use(this.directory);
    this.connection.use(this.visibility);
    this.connection.use(this.visitorContext);
    this.connection.use(this.session);
  }

  override connectedCallback(): void {
    super.connectedCallback();
    navigator.serviceWorker?.addEventListener('message', this.onWorkerMessage);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    navigator.serviceWorker?.removeEventListener('message', this.onWorkerMessage);
  }

  /** A click on a push notification (push-sw.js) opens its conversation in this tab. */
  private readonly onWorkerMessage = (event: MessageEvent): void => {
    const data = event.data as { type?: unknown; conversationId?: unknown } | null;
    if (data?.type !== 'anon-chat:open-conversation' || typeof data.conversationId !== 'string' || !this.session.session) return;
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(data.conversationId)) return;
    this.page = 'inbox';
    this.select(data.conversationId);
  };

  private get serverUrl(): string {
    return this.server || window.location.origin;
  }

  override render() {
    const session = this.session.session;
    if (this.invite) {
      return html`<console-invite
        .busy=${this.session.busy}
        .error=${this.session.error}
        @console-invite-accept=${(e: CustomEvent<{ password: string }>) => void this.acceptInvite(e.detail.password)}
      ></console-invite>`;
    }
    if (!session) {
      return html`<console-sign-in
        .busy=${this.session.busy}
        .error=${this.session.error}
        @console-sign-in=${(e: CustomEvent<{ name: string; password: string }>) => void this.signIn(e.detail.name, e.detail.password)}
      ></console-sign-in>`;
    }
    const state = this.connection.state;
    const others = this.connection.agentsOnline;
    // What the bridge last announced wins over the stored session (another tab may have changed it).
    const availability = others.find((a) => a.id === session.agent.id)?.availability ?? session.agent.availability ?? 'online';
    const openId = this.thread.conversationId;
    const summary = openId ? (this.thread.summary ?? this.inbox.find(openId)) : undefined;
    const single = this.narrow.matches;
    return html`<div class="app">
      <header class="topbar">
        <div class="brand">${logoMark(28)}<span>anon-chat <small>Console</small></span></div>
        <span class="conn conn--${state}" role="status" data-state=${state}><span class="conn__text">${CONNECTION_TEXT[state]}</span></span>
        <span class="spacer"></span>
        ${others.length
          ? html`<div class="agents" aria-label="${others.length} ${others.length === 1 ? 'agent' : 'agents'} online: ${others.map((a) => a.name).join(', ')}" role="img">
              ${others.slice(0, 4).map(
                (a) => html`<span class="avatar ${hueClass(a.id)}" title=${a.name}>${initials(a.name)}</span>`,
              )}
              <span class="agents__label" aria-hidden="true">${others.length} online</span>
            </div>`
          : nothing}
        <button
          class="btn btn--ghost availability availability--${availability}"
          type="button"
          data-availability=${availability}
          title=${availability === 'online' ? 'Visitors see you online. Click to set yourself Away.' : 'Visitors do not count you. Click to go Online.'}
          aria-label=${availability === 'online' ? 'Availability: Online (set Away)' : 'Availability: Away (go Online)'}
          @click=${() => void this.session.setAvailability(availability === 'online' ? 'away' : 'online')}
        >
          <span class="presence-dot ${availability === 'online' ? 'presence-dot--online' : ''}" aria-hidden="true"></span>
          <span class="availability__label">${availability === 'online' ? 'Online' : 'Away'}</span>
        </button>
        <button
          class="icon-btn"
          type="button"
          aria-pressed=${this.attention.soundEnabled ? 'true' : 'false'}
          aria-label="Sound for new messages"
          title=${this.attention.soundEnabled ? 'Sound on' : 'Sound off'}
          @click=${() => this.attention.toggleSound()}
        >
          ${bellIcon}
        </button>
        ${this.page !== 'inbox'
          ? html`<button class="btn btn--ghost" type="button" @click=${() => this.showPage('inbox')}>Inbox</button>`
          : nothing}
        ${session.agent.role === 'admin' && this.page !== 'team'
          ? html`<button class="btn btn--ghost" type="button" @click=${() => this.showPage('team')}>Team</button>`
          : nothing}
        <button
          class="btn btn--ghost me"
          type="button"
          aria-pressed=${this.page === 'account' ? 'true' : 'false'}
          @click=${() => this.showPage(this.page === 'account' ? 'inbox' : 'account')}
        >
          <span class="visually-hidden">My account: </span>
          <span class="avatar ${hueClass(session.agent.id)}" aria-hidden="true">${initials(session.agent.displayName)}</span>
          <span class="me__name">${session.agent.displayName}</span>
        </button>
        <button class="btn btn--ghost sign-out" type="button" @click=${() => this.signOut()}>Sign out</button>
      </header>
      ${this.page === 'account'
        ? html`<div class="settings"><console-account
            role="main"
            .name=${session.agent.name}
            .displayName=${session.agent.displayName}
            .busy=${this.session.busy}
            .profileResult=${this.profileResult}
            .passwordResult=${this.passwordResult}
            .rest=${this.rest}
            @console-profile-save=${(e: HTMLElementEventMap['console-profile-save']) => void this.changeDisplayName(e.detail.displayName)}
            @console-password-change=${(e: HTMLElementEventMap['console-password-change']) => void this.changePassword(e.detail.current, e.detail.next)}
            @console-sign-out=${() => this.signOut()}
          ></console-account></div>`
        : this.page === 'team' && session.agent.role === 'admin'
        ? html`<div class="settings"><console-team
            role="main"
            .agents=${this.team.agents}
            .selfId=${session.agent.id}
            .error=${this.team.error}
            .inviteUrl=${this.team.inviteUrl}
            .loading=${this.team.loading}
            @console-agent-create=${(e: CustomEvent<AgentCreatePayload>) => void this.team.create(e.detail)}
            @console-invite-reissue=${(e: HTMLElementEventMap['console-invite-reissue']) => void this.team.reissueInvite(e.detail.id)}
            @console-agent-update=${(e: CustomEvent<{ id: string; change: AgentUpdatePayload }>) => void this.team.update(e.detail.id, e.detail.change)}
          ></console-team>
          <console-saved-replies
            role="region"
            aria-label="Saved replies"
            .savedReplies=${this.directory.savedReplies}
            .error=${this.directory.error}
            @console-saved-reply-save=${(e: HTMLElementEventMap['console-saved-reply-save']) => void this.directory.saveReply(e.detail.shortcut, e.detail.text)}
            @console-saved-reply-delete=${(e: HTMLElementEventMap['console-saved-reply-delete']) => void this.directory.deleteReply(e.detail.shortcut)}
          ></console-saved-replies>
          <console-business-hours
            role="region"
            aria-label="Business hours"
            .hours=${this.team.businessHours}
            .error=${this.team.businessHoursError}
            .saved=${this.team.businessHoursSaved}
            @console-business-hours-save=${(e: HTMLElementEventMap['console-business-hours-save']) => void this.team.saveBusinessHours(e.detail)}
          ></console-business-hours>
          <console-assignment-settings
            role="region"
            aria-label="Assignment"
            .settings=${this.team.assignment}
            .error=${this.team.assignmentError}
            .saved=${this.team.assignmentSaved}
            @console-assignment-save=${(e: HTMLElementEventMap['console-assignment-save']) => void this.team.saveAssignment(e.detail)}
          ></console-assignment-settings></div>`
        : html`<main class="panes ${single ? 'panes--single' : ''}">
        ${!single || !openId
          ? html`<console-inbox
              role="region"
              aria-label="Inbox"
              .conversations=${this.inbox.conversations}
              .typing=${this.inbox.typing}
              .selectedId=${openId}
              .filter=${this.inbox.filter}
              .assignee=${this.inbox.assignee}
              .agentNames=${(id: string) => this.directory.nameOf(id)}
              .query=${this.inbox.query}
              .loading=${this.inbox.loading}
              .error=${this.inbox.error}
              .locale=${this.locale}
              @console-select=${(e: CustomEvent<{ conversationId: string }>) => this.select(e.detail.conversationId)}
              @console-filter=${(e: CustomEvent<{ filter: 'open' | 'all' }>) => this.inbox.setFilter(e.detail.filter)}
              @console-search=${(e: CustomEvent<{ query: string }>) => this.inbox.setQuery(e.detail.query)}
              @console-assignee-filter=${(e: HTMLElementEventMap['console-assignee-filter']) => this.inbox.setAssignee(e.detail.view)}
            ></console-inbox>`
          : nothing}
        ${!single || openId
          ? html`<div class="conversation ${this.roomy.matches && summary?.channel === 'web' ? 'conversation--aside' : ''}">
            ${summary?.channel === 'web'
              ? html`<console-visitor-context
                  role="complementary"
                  aria-label="Visitor context"
                  .context=${this.visitorContext.context}
                  .locale=${this.locale}
                  ?collapsible=${!this.roomy.matches}
                ></console-visitor-context>`
              : nothing}
            <console-thread
              role="region"
              aria-label="Conversation"
              .summary=${summary}
              .messages=${this.thread.thread?.messages ?? []}
              .typing=${this.thread.typing}
              .hasMore=${this.thread.thread?.hasMore ?? false}
              .loading=${this.thread.loading}
              .loadingOlder=${this.thread.loadingOlder}
              .changingState=${this.thread.changingState}
              .members=${this.directory.members}
              .savedReplies=${this.directory.savedReplies}
              @console-assign=${(e: HTMLElementEventMap['console-assign']) => void this.assign(e.detail.assigneeId)}
              .error=${this.thread.error}
              .announcement=${this.thread.announcement}
              .locale=${this.locale}
              .narrow=${single}
              @console-load-older=${() => void this.thread.loadOlder()}
              .serverUrl=${this.serverUrl}
              .token=${this.session.session?.token}
              .maxUploadBytes=${this.session.attachmentLimits?.maxBytes}
              @console-send=${(e: HTMLElementEventMap['console-send']) => this.thread.send(e.detail.text, e.detail.files)}
              @console-retry=${(e: CustomEvent<{ message: LocalMessage }>) => this.thread.retry(e.detail.message)}
              @console-compose=${(e: CustomEvent<{ active: boolean }>) => this.thread.composing(e.detail.active)}
              @console-back=${() => this.back()}
              @console-state=${(e: CustomEvent<{ state: 'open' | 'closed' }>) => void this.thread.setState(e.detail.state)}
            ></console-thread>
          </div>`
          : nothing}
      </main>`}
    </div>`;
  }

  private async signIn(name: string, password: string): Promise<void> {
    await this.session.signIn(name, password);
    if (!this.session.session) return;
    // A link to a conversation (the unanswered-conversation mail's) opened while signed out leads there after sign-in.
    const linked = this.location.current();
    if (linked) void this.thread.open(linked, undefined);
    // The form that had focus is gone: without this, focus falls to <body>.
    await this.updateComplete;
    if (linked) await this.renderRoot.querySelector('console-thread')?.focusComposer();
    else await this.renderRoot.querySelector('console-inbox')?.focusSearch();
  }

  private select(conversationId: string): void {
    void this.thread.open(conversationId, this.inbox.find(conversationId));
    this.location.set(conversationId);
    void this.updateComplete.then(() => this.renderRoot.querySelector('console-thread')?.focusComposer());
  }

  private async assign(assigneeId: string | null): Promise<void> {
    const id = this.thread.conversationId;
    const connection = this.connection.connection;
    if (!id || !connection) return;
    try {
      await connection.assignConversation(id, assigneeId);
    } catch {
      // The list and header keep the stored assignee; the next update shows it.
      this.requestUpdate();
    }
  }

  private back(): void {
    const id = this.thread.conversationId;
    this.thread.close();
    this.location.set(undefined);
    void this.updateComplete.then(() =>
      this.renderRoot.querySelector('console-inbox')?.renderRoot.querySelector<HTMLElement>(`[data-conversation-id="${id}"]`)?.focus(),
    );
  }

  private signOut(): void {
    this.thread.close();
    this.location.set(undefined);
    this.page = 'inbox';
    this.session.logOut();
    void unsubscribeThisBrowser().catch(() => undefined);
  }

  private showPage(page: 'inbox' | 'team' | 'account'): void {
    this.page = page;
    this.profileResult = undefined;
    this.passwordResult = undefined;
    if (page === 'team') void this.team.load();
  }

  private async changeDisplayName(displayName: string): Promise<void> {
    const refused = await this.session.changeDisplayName(displayName);
    this.profileResult = refused ? { ok: false, text: refused } : { ok: true, text: 'Saved. Visitors see this name from your next reply.' };
    this.requestUpdate();
  }

  private async changePassword(current: string, next: string): Promise<void> {
    const refused = await this.session.changePassword(current, next);
    this.passwordResult = refused
      ? { ok: false, text: refused }
      : { ok: true, text: 'Password changed. Your other sessions were signed out; this one carries on.' };
    this.requestUpdate();
  }

  private async acceptInvite(password: string): Promise<void> {
    if (!this.invite || !(await this.session.acceptInvite(this.invite, password))) return;
    // The link is used up: drop it from the address bar and history entry.
    this.invite = undefined;
    this.location.set(undefined);
    this.requestUpdate();
  }
}

customElements.define('anon-console', AnonConsole);

declare global {
  interface HTMLElementTagNameMap {
    'anon-console': AnonConsole;
  }
}
