/**
 * The Team page's data: the agents (admins only), adding one (with the invite link), changing role and activity, the
 * business hours and round-robin assignment.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { agentRest, type AgentRestOptions } from '../agent-rest.ts';
import type { AgentAccount, AgentCreated } from '../../protocol/agents.ts';
import type { AgentCreatePayload, AgentUpdatePayload } from '../../protocol/schemas.ts';
import type { BusinessHours } from '../../protocol/business-hours.ts';
import type { AssignmentSettings } from '../../protocol/assignment.ts';

/** Loads and changes the team over REST with the signed-in admin's token. */
export class TeamController implements ReactiveController {
  agents: AgentAccount[] = [];
  loading = false;
  /** The last refusal, readable (e.g. "That name is taken."). */
  error = '';
  /** The invite link of the agent added last, shown until the next change. */
  inviteUrl = '';
  /** The stored business hours, once loaded. */
  businessHours: BusinessHours | undefined;
  /** Why saving the business hours was refused, readable; true in `businessHoursSaved` once saved. */
  businessHoursError = '';
  businessHoursSaved = false;
  /** The stored assignment settings (round-robin), once loaded; the same pair of error and saved flags. */
  assignment: AssignmentSettings | undefined;
  assignmentError = '';
  assignmentSaved = false;

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly options: AgentRestOptions,
  ) {
    host.addController(this);
  }

  hostConnected(): void {}

  /** Lists the team again. */
  async load(): Promise<void> {
    this.loading = true;
    this.host.requestUpdate();
    this.businessHoursSaved = false;
    this.businessHoursError = '';
    this.assignmentSaved = false;
    this.assignmentError = '';
    const [body, hours, assignment] = await Promise.all([
      this.request<{ agents: AgentAccount[] }>('GET', '/api/agents'),
      agentRest<BusinessHours>(this.options, 'GET', '/api/settings/business-hours'),
      agentRest<AssignmentSettings>(this.options, 'GET', '/api/settings/assignment'),
    ]);
    if (body) this.agents = body.agents;
    if (hours.ok) this.businessHours = hours.body;
    else this.businessHoursError = hours.error;
    if (assignment.ok) this.assignment = assignment.body;
    else this.assignmentError = assignment.error;
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

  /** A new invite link for an agent who has not set a password (shown in `inviteUrl`); the previous link stops working. */
  async reissueInvite(id: string): Promise<void> {
    this.inviteUrl = '';
    const body = await this.request<AgentCreated>('POST', `/api/agents/${encodeURIComponent(id)}/invite`, {});
    if (!body) return;
    this.inviteUrl = body.inviteUrl ?? '';
    this.agents = this.agents.map((a) => (a.id === id ? body.agent : a));
    this.host.requestUpdate();
  }

  /** Saves the business hours (every node applies them at once). */
  async saveBusinessHours(hours: BusinessHours): Promise<void> {
    this.businessHoursSaved = false;
    const result = await agentRest<BusinessHours>(this.options, 'PUT', '/api/settings/business-hours', hours);
    this.businessHoursError = result.ok ? '' : result.error;
    if (result.ok) {
      this.businessHours = result.body;
      this.businessHoursSaved = true;
    }
    this.host.requestUpdate();
  }

  /** Saves the assignment settings (every node applies them from its next visitor message on). */
  async saveAssignment(settings: AssignmentSettings): Promise<void> {
    this.assignmentSaved = false;
    const result = await agentRest<AssignmentSettings>(this.options, 'PUT', '/api/settings/assignment', settings);
    this.assignmentError = result.ok ? '' : result.error;
    if (result.ok) {
      this.assignment = result.body;
      this.assignmentSaved = true;
    }
    this.host.requestUpdate();
  }

  /** Changes an agent's role, display name or activity. */
  async update(id: string, change: AgentUpdatePayload): Promise<void> {
    const body = await this.request<{ agent: AgentAccount }>('PATCH', `/api/agents/${encodeURIComponent(id)}`, change);
    if (body) this.agents = this.agents.map((a) => (a.id === id ? body.agent : a));
    this.host.requestUpdate();
  }

  private async request<T>(method: string, path: string, json?: unknown): Promise<T | undefined> {
    this.error = '';
    const result = await agentRest<T>(this.options, method, path, json);
    if (!result.ok) this.error = result.error;
    this.host.requestUpdate();
    return result.ok ? result.body : undefined;
  }
}
