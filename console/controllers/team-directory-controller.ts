/**
 * What every agent's console needs of the team: the teammates conversations can be assigned to (`GET /api/team`) and
 * the saved replies (`GET /api/saved-replies`), loaded after every connect and again whenever an admin (in any console,
 * on any node) changes a saved reply; admins change saved replies here too.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { agentRest, type AgentRestOptions } from '../agent-rest.ts';
import type { SavedReply, TeamMember } from '../../protocol/assignment.ts';
import type { AgentConnection } from '../agent-connection.ts';
import type { ConnectionUser } from './connection-controller.ts';

/** Teammates and saved replies, over REST with the signed-in agent's token. */
export class TeamDirectoryController implements ReactiveController, ConnectionUser {
  members: TeamMember[] = [];
  savedReplies: SavedReply[] = [];
  /** The last refusal of a saved-reply change, readable. */
  error = '';
  private stopListening: (() => void) | undefined;

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly options: AgentRestOptions,
  ) {
    host.addController(this);
  }

  hostConnected(): void {}

  attach(connection: AgentConnection): void {
    this.stopListening = connection.on('saved-replies:changed', () => void this.loadSavedReplies());
  }

  detach(): void {
    this.stopListening?.();
    this.stopListening = undefined;
    this.members = [];
    this.savedReplies = [];
  }

  connected(): void {
    void this.load();
  }

  /** The display name of a teammate, or a neutral word for one no longer listed. */
  nameOf(agentId: string): string {
    return this.members.find((m) => m.id === agentId)?.displayName ?? 'Former teammate';
  }

  /** Lists teammates and saved replies again. */
  async load(): Promise<void> {
    const [team, replies] = await Promise.all([
      this.request<{ agents: TeamMember[] }>('GET', '/api/team'),
      this.request<{ savedReplies: SavedReply[] }>('GET', '/api/saved-replies'),
    ]);
    if (team) this.members = team.agents;
    if (replies) this.savedReplies = replies.savedReplies;
    this.host.requestUpdate();
  }

  private async loadSavedReplies(): Promise<void> {
    // Not through request(): a refusal shown to this admin stays shown while another admin's change comes in.
    const result = await agentRest<{ savedReplies: SavedReply[] }>(this.options, 'GET', '/api/saved-replies');
    if (!result.ok) return;
    this.savedReplies = result.body.savedReplies;
    this.host.requestUpdate();
  }

  /** Creates or replaces a saved reply (admins); true when stored. */
  async saveReply(shortcut: string, text: string): Promise<boolean> {
    const body = await this.request<{ savedReply: SavedReply }>('PUT', `/api/saved-replies/${encodeURIComponent(shortcut)}`, { text });
    if (!body) return false;
    const rest = this.savedReplies.filter((r) => r.shortcut !== shortcut);
    this.savedReplies = [...rest, body.savedReply].sort((a, b) => (a.shortcut < b.shortcut ? -1 : 1));
    this.host.requestUpdate();
    return true;
  }

  /** Deletes a saved reply (admins). */
  async deleteReply(shortcut: string): Promise<void> {
    const res = await this.request<Record<string, never>>('DELETE', `/api/saved-replies/${encodeURIComponent(shortcut)}`);
    if (res) this.savedReplies = this.savedReplies.filter((r) => r.shortcut !== shortcut);
    this.host.requestUpdate();
  }

  private async request<T>(method: string, path: string, json?: unknown): Promise<T | undefined> {
    this.error = '';
    const result = await agentRest<T>(this.options, method, path, json);
    if (!result.ok) this.error = result.error;
    return result.ok ? result.body : undefined;
  }
}
