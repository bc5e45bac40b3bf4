/** The Team page (admins): every agent with role and activity, a new invite link for the invited, and the form that adds one. */
import { LitElement, html, nothing } from 'lit';
import { AGENT_ROLES, type AgentAccount, type AgentRole } from '../../protocol/agents.ts';
import { baseStyles } from './shared.styles.ts';
import { teamStyles } from './console-team.styles.ts';
import { emit } from '../events.ts';
import { hueClass, initials } from '../labels.ts';
import { formText } from './form-text.ts';

const ROLE_TEXT: Record<AgentRole, string> = { admin: 'Admin', agent: 'Agent' };

/**
 * Lists the team and adds agents; changes go up as events, the root element applies them.
 * @fires console-agent-create - with `{name, displayName, role, password?, email?}` when the form is submitted.
 * @fires console-agent-update - with `{id, change}` when a role, the e-mail address or the activity is changed.
 * @fires console-invite-reissue - with `{id}` from an invited agent's "New invite link" button.
 */
export class ConsoleTeam extends LitElement {
  static override styles = [baseStyles, teamStyles];
  static override properties = {
    agents: { attribute: false },
    selfId: { type: String },
    error: { type: String },
    inviteUrl: { type: String },
    loading: { type: Boolean },
  };

  declare agents: AgentAccount[];
  /** The signed-in admin (marked "you"). */
  declare selfId: string;
  declare error: string;
  /** Invite link of the agent added (or re-invited) last. */
  declare inviteUrl: string;
  declare loading: boolean;

  constructor() {
    super();
    this.agents = [];
    this.selfId = '';
    this.error = '';
    this.inviteUrl = '';
    this.loading = false;
  }

  override render() {
    return html`<div class="page">
      <section aria-labelledby="team-title">
        <h2 id="team-title">Team</h2>
        <table>
          <thead>
            <tr><th scope="col">Agent</th><th scope="col">Role</th><th scope="col">E-mail</th><th scope="col">Status</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr>
          </thead>
          <tbody>
            ${this.agents.map((agent) => this.renderRow(agent))}
          </tbody>
        </table>
        ${this.loading ? html`<p class="hint">Loading…</p>` : nothing}
      </section>
      <section aria-labelledby="add-title">
        <h2 id="add-title">Add an agent</h2>
        <form @submit=${this.submit}>
          <label for="new-name">Login name</label>
          <input id="new-name" name="name" required minlength="2" maxlength="64" pattern="[A-Za-z0-9._@\\-]+" autocomplete="off" />
          <label for="new-display">Display name</label>
          <input id="new-display" name="displayName" required maxlength="60" autocomplete="off" />
          <p class="hint">Visitors see this name above the agent's replies.</p>
          <label for="new-role">Role</label>
          <select id="new-role" name="role">
            ${AGENT_ROLES.map((role) => html`<option value=${role} ?selected=${role === 'agent'}>${ROLE_TEXT[role]}</option>`)}
          </select>
          <label for="new-password">Password (optional)</label>
          <input id="new-password" name="password" type="password" minlength="10" autocomplete="new-password" />
          <p class="hint">Leave empty to get a one-time invite link (valid 7 days) where the agent sets it.</p>
          <label for="new-email">E-mail (optional)</label>
          <input id="new-email" name="email" type="email" maxlength="254" autocomplete="off" />
          <p class="hint">Where the agent is told of conversations left unanswered (with e-mail set up on the bridge).</p>
          <button class="btn btn--primary" type="submit">Add agent</button>
        </form>
        ${this.error ? html`<div class="error" role="alert">${this.error}</div>` : nothing}
        ${this.inviteUrl
          ? html`<div class="invite" role="status">
              Invite link — send it to the agent:<br /><a class="invite-url" href=${this.inviteUrl}>${this.inviteUrl}</a>
            </div>`
          : nothing}
      </section>
    </div>`;
  }

  private renderRow(agent: AgentAccount) {
    const self = agent.id === this.selfId;
    return html`<tr class=${agent.active ? '' : 'inactive'} data-agent=${agent.name}>
      <td>
        <div class="who">
          <span class="avatar ${hueClass(agent.id)}" aria-hidden="true">${initials(agent.displayName)}</span>
          <span>${agent.displayName}${self ? ' (you)' : ''}<small>${agent.name}</small></span>
        </div>
      </td>
      <td>
        <select
          aria-label="Role of ${agent.displayName}"
          @change=${(e: Event) => emit(this, 'console-agent-update', { id: agent.id, change: { role: (e.target as HTMLSelectElement).value as AgentRole } })}
        >
          ${AGENT_ROLES.map((role) => html`<option value=${role} ?selected=${role === agent.role}>${ROLE_TEXT[role]}</option>`)}
        </select>
      </td>
      <td>
        <input
          class="email"
          type="email"
          maxlength="254"
          aria-label="E-mail of ${agent.displayName}"
          .value=${agent.email ?? ''}
          @change=${(e: Event) => this.changeEmail(agent, e.target as HTMLInputElement)}
        />
      </td>
      <td>
        <span class="badge">${!agent.active ? 'Deactivated' : agent.hasPassword ? 'Active' : 'Invited'}</span>
      </td>
      <td>
        <div class="actions">
          ${agent.active && !agent.hasPassword
            ? html`<button
                class="btn btn--ghost"
                type="button"
                aria-label="New invite link for ${agent.displayName}"
                title="The previous link stops working"
                @click=${() => emit(this, 'console-invite-reissue', { id: agent.id })}
              >
                New invite link
              </button>`
            : nothing}
          <button
            class="btn btn--ghost"
            type="button"
            aria-label="${agent.active ? 'Deactivate' : 'Reactivate'} ${agent.displayName}"
            @click=${() => emit(this, 'console-agent-update', { id: agent.id, change: { active: !agent.active } })}
          >
            ${agent.active ? 'Deactivate' : 'Reactivate'}
          </button>
        </div>
      </td>
    </tr>`;
  }

  /** Saves an edited address once the browser finds it well-formed; an emptied field removes it. */
  private changeEmail(agent: AgentAccount, input: HTMLInputElement): void {
    if (!input.checkValidity()) {
      input.reportValidity();
      return;
    }
    const email = input.value.trim();
    emit(this, 'console-agent-update', { id: agent.id, change: { email: email === '' ? null : email } });
  }

  private readonly submit = (event: SubmitEvent): void => {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    const password = formText(data, 'password');
    const email = formText(data, 'email').trim();
    emit(this, 'console-agent-create', {
      name: formText(data, 'name').trim(),
      displayName: formText(data, 'displayName').trim(),
      role: formText(data, 'role') === 'admin' ? 'admin' : 'agent',
      ...(password ? { password } : {}),
      ...(email ? { email } : {}),
    });
    form.reset();
  };
}

customElements.define('console-team', ConsoleTeam);

declare global {
  interface HTMLElementTagNameMap {
    'console-team': ConsoleTeam;
  }
}
