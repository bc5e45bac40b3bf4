/** Agent accounts: one bucket document (there are few), each change journaled whole. */
import { StoreError, type AgentChange, type AgentRecord, type Store } from '../store.ts';
import type { JournalRecord } from './journal-records.ts';
import type { LowdbState } from './lowdb-state.ts';
import { agentRecord, byCreation, isActiveAdmin } from './stored-shapes.ts';

type AgentCalls = 'createAgent' | 'getAgentByName' | 'getAgent' | 'countAgents' | 'listAgents' | 'updateAgent';

/** The agent calls of the Store. */
export class LowdbAgents implements Pick<Store, AgentCalls> {
  constructor(private readonly s: LowdbState) {}

  async createAgent(agent: AgentRecord): Promise<void> {
    const journal = await this.s.writable();
    for (const [, existing] of this.s.agentBuckets.entries()) {
      if (existing.id === agent.id || existing.name === agent.name) {
        throw new StoreError('conflict', `agent ${agent.name} already exists`);
      }
    }
    const record = agentRecord(agent);
    this.s.agentBuckets.set(record.id, record);
    await this.s.durable(journal.append({ t: 'a', v: record } satisfies JournalRecord));
  }

  async getAgentByName(name: string): Promise<AgentRecord | undefined> {
    this.s.assertOpen();
    for (const [, agent] of this.s.agentBuckets.entries()) if (agent.name === name) return agentRecord(agent);
    return undefined;
  }

  async getAgent(id: string): Promise<AgentRecord | undefined> {
    this.s.assertOpen();
    const agent = this.s.agentBuckets.get(id);
    return agent ? agentRecord(agent) : undefined;
  }

  async countAgents(): Promise<number> {
    this.s.assertOpen();
    return this.s.agentBuckets.size;
  }

  async listAgents(): Promise<AgentRecord[]> {
    this.s.assertOpen();
    return [...this.s.agentBuckets.entries()].map(([, agent]) => agentRecord(agent)).sort(byCreation);
  }

  async updateAgent(id: string, change: AgentChange): Promise<AgentRecord> {
    const journal = await this.s.writable();
    // From here to the journal append nothing awaits: the last-admin check and the change are one step.
    const current = this.s.agentBuckets.get(id);
    if (!current) throw new StoreError('not_found', `no agent ${id}`);
    const before = agentRecord(current);
    const next: AgentRecord = {
      ...before,
      ...(change.displayName !== undefined ? { displayName: change.displayName } : {}),
      ...(change.role !== undefined ? { role: change.role } : {}),
      ...(change.active !== undefined ? { active: change.active } : {}),
      ...(change.passwordHash !== undefined ? { passwordHash: change.passwordHash } : {}),
      ...(change.availability !== undefined ? { availability: change.availability } : {}),
      ...(change.email ? { email: change.email } : {}),
      sessionEpoch: before.sessionEpoch + (change.revokeSessions ? 1 : 0),
    };
    if (change.email === null) delete next.email;
    if (isActiveAdmin(before) && !isActiveAdmin(next)) {
      let others = 0;
      for (const [otherId, other] of this.s.agentBuckets.entries()) if (otherId !== id && isActiveAdmin(agentRecord(other))) others++;
      if (others === 0) throw new StoreError('last_admin', 'the last active admin must stay an active admin');
    }
    this.s.agentBuckets.set(id, next);
    await this.s.durable(journal.append({ t: 'a', v: next } satisfies JournalRecord));
    return { ...next };
  }

  /** Every agent account (for `npm run import-lowdb`). */
  exportAgents(): AgentRecord[] {
    this.s.assertOpen();
    return [...this.s.agentBuckets.entries()].map(([, agent]) => agentRecord(agent));
  }
}
