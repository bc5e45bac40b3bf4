/** The Team page's data: the agents (admins only), adding one (with the invite link), changing role and activity. */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { AgentAccount, AgentCreated } from '../../protocol/agents.ts';
import type { ApiError } from '../../protocol/errors.ts';
import type { AgentCreatePayload, AgentUpdatePayload } from '../../protocol/schemas.ts';

/** Loads and changes the team over REST with the signed-in admin's token. */
export class TeamController implements ReactiveController {
  agents: AgentAccount[] = [];
  loading = false;
  /** The last refusal, readable (e.g. "That name is taken."). */
  error = '';
  /** The invite link of the agent added last, shown until the next change. */
  inviteUrl = '';

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly options: { serverUrl: () => string; token: () => string | undefined },
  ) {
    host.addController(this);
  }

  hostConnected(): void {}

  /** Lists the team again. */
  async load(): Promise<void> {
    this.loading = true;
    this.host.requestUpdate();
    const body = await this.request<{ agents: AgentAccount[] }>('GET', '/api/agents');
    if (body) this.agents = body.agents;
    this.loading = false;
    this.host.requestUpdate();
  }

  /** Adds an agent; true when added (the invite link, if any, is in `inviteUrl`). */
  async create(input: AgentCreatePayload): Promise<boolean> {
    this.inviteUrl = '';
    const body = await this.request<AgentCreated>('POST', '/api/agents', input);
    if (!body) return false;
    this.inviteUrl = body.inviteUrl ?? '';
    this.agents = [...this.agents, body.agent];
    this.host.requestUpdate();
    return true;
  }

  /** Changes an agent's role, display name or activity. */
  async update(id: string, change: AgentUpdatePayload): Promise<void> {
    const body = await this.request<{ agent: AgentAccount }>('PATCH', `/api/agents/${encodeURIComponent(id)}`, change);
    if (body) this.agents = this.agents.map((a) => (a.id === id ? body.agent : a));
    this.host.requestUpdate();
  }

  private async request<T>(method: string, path: string, json?: unknown): Promise<T | undefined> {
    this.error = '';
    try {
      const res = await fetch(new URL(path, this.options.serverUrl()), {
        method,
        headers: {
          authorization: `Bearer ${this.options.token() ?? ''}`,
          ...(json !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      });
      const body = (await res.json().catch(() => undefined)) as (T & { error?: ApiError }) | undefined;
      if (!res.ok || !body) {
        const fields = body?.error?.fields;
        this.error = fields
          ? Object.entries(fields).map(([field, problem]) => `${field}: ${problem}`).join('; ')
          : (body?.error?.message ?? 'The change failed. Try again.');
        if (body?.error?.code === 'conflict' && body.error.message) this.error = body.error.message;
        return undefined;
      }
      return body;
    } catch {
      this.error = 'Cannot reach the server. Check your connection.';
      return undefined;
    } finally {
      this.host.requestUpdate();
    }
  }
}
