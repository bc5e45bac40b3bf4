/** "Notifications" on My account: turns Web Push on or off for this browser (shown only where PushManager exists). */
import { LitElement, html, nothing } from 'lit';
import { baseStyles } from './shared.styles.ts';
import { teamStyles } from './console-team.styles.ts';
import { PushController } from '../controllers/push-controller.ts';
import type { AgentRestOptions } from '../agent-rest.ts';

const NO_REST: AgentRestOptions = { serverUrl: () => window.location.origin, token: () => undefined };

/** The opt-in section; the controller does the work. */
export class ConsolePush extends LitElement {
  static override styles = [baseStyles, teamStyles];
  static override properties = { rest: { attribute: false } };

  /** The bridge and the agent's token. */
  declare rest: AgentRestOptions;
  private readonly push = new PushController(this, {
    serverUrl: () => this.rest.serverUrl(),
    token: () => this.rest.token(),
  });

  constructor() {
    super();
    this.rest = NO_REST;
  }

  override render() {
    const { state, busy, error } = this.push;
    if (state === 'unsupported') return nothing;
    return html`<section aria-labelledby="push-title">
      <h2 id="push-title">Notifications</h2>
      <p class="hint">
        ${state === 'on'
          ? 'This browser shows a notification for new conversations and for messages in yours while no console tab is in view.'
          : state === 'blocked'
            ? 'Notifications are blocked for this site in the browser settings.'
            : 'Get a notification in this browser for new conversations and for messages in yours while no console tab is in view.'}
      </p>
      ${state === 'on'
        ? html`<button class="btn" type="button" ?disabled=${busy} @click=${() => void this.push.disable()}>
            Turn off notifications in this browser
          </button>`
        : html`<button class="btn btn--primary" type="button" ?disabled=${busy || state === 'blocked'} @click=${() => void this.push.enable()}>
            Turn on notifications in this browser
          </button>`}
      ${error ? html`<div class="error" role="alert">${error}</div>` : nothing}
    </section>`;
  }
}

customElements.define('console-push', ConsolePush);

declare global {
  interface HTMLElementTagNameMap {
    'console-push': ConsolePush;
  }
}
