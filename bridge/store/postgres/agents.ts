/** Agent accounts: created, read, listed and changed (the last active admin stays one). */
import { StoreError, type AgentChange, type AgentRecord } from '../store.ts';
import { isPgError, type PostgresState } from './postgres-state.ts';

/** An agent row as an AgentRecord. */
const AGENT_COLUMNS = `id, name, display_name AS "displayName", role, active, password_hash AS "passwordHash",
  session_epoch AS "sessionEpoch", availability, email, created_at AS "createdAt"`;
/** An agent row as a record: a column without an address is an absent `email`. */
function agentOfRow(row: AgentRecord): AgentRecord {
  const { email, ...rest } = row as AgentRecord & { email?: string | null };
  return email == null ? { ...rest } : { ...rest, email };
}

/** The agent calls of the Store. */
export class PostgresAgents {
  constructor(private readonly s: PostgresState) {}

  async createAgent(agent: AgentRecord): Promise<void> {
    try {
      await this.s.query(
        `INSERT INTO agents (id, name, display_name, role, active, password_hash, session_epoch, availability, created_at, email)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [
          agent.id,
          agent.name,
          agent.displayName,
          agent.role,
          agent.active,
          agent.passwordHash,
          agent.sessionEpoch,
          agent.availability,
          agent.createdAt,
          agent.email ?? null,
        ],
      );
    } catch (error) {
      if (isPgError(error) && error.code === '23505') throw new StoreError('conflict', `agent ${agent.name} already exists`);
      throw error;
    }
  }

  async getAgentByName(name: string): Promise<AgentRecord | undefined> {
    return this.agentWhere('name', name);
  }

  async getAgent(id: string): Promise<AgentRecord | undefined> {
    return this.agentWhere('id', id);
  }

  private async agentWhere(column: 'id' | 'name', value: string): Promise<AgentRecord | undefined> {
    const { rows } = await this.s.query<AgentRecord>(`SELECT ${AGENT_COLUMNS} FROM agents WHERE ${column} = $1`, [value]);
    return rows[0] ? agentOfRow(rows[0]) : undefined;
  }

  async countAgents(): Promise<number> {
    const { rows } = await this.s.query<{ n: number }>('SELECT count(*)::int AS n FROM agents');
    return rows[0]!.n;
  }

  async listAgents(): Promise<AgentRecord[]> {
    const { rows } = await this.s.query<AgentRecord>(`SELECT ${AGENT_COLUMNS} FROM agents ORDER BY created_at, name`);
    return rows.map(agentOfRow);
  }

  async updateAgent(id: string, change: AgentChange): Promise<AgentRecord> {
    return this.s.transaction(async (client) => {
      // Agent changes are rare: one at a time across all nodes makes the last-admin check exact (two admins
      // demoting each other at once see each other's change).
      await client.query('LOCK TABLE agents IN SHARE ROW EXCLUSIVE MODE');
      const before = await client.query<{ admin: boolean }>("SELECT role = 'admin' AND active AS admin FROM agents WHERE id = $1", [id]);
      if (before.rowCount === 0) throw new StoreError('not_found', `no agent ${id}`);
      const { rows } = await client.query<AgentRecord>(
        `UPDATE agents SET
           display_name = coalesce($2, display_name),
           role = coalesce($3, role),
           active = coalesce($4, active),
           password_hash = coalesce($5, password_hash),
           session_epoch = session_epoch + $6,
           availability = coalesce($7, availability),
           email = CASE WHEN $8::boolean THEN $9 ELSE email END
         WHERE id = $1
         RETURNING ${AGENT_COLUMNS}`,
        [
          id,
          change.displayName ?? null,
          change.role ?? null,
          change.active ?? null,
          change.passwordHash ?? null,
          change.revokeSessions ? 1 : 0,
          change.availability ?? null,
          change.email !== undefined,
          change.email ?? null,
        ],
      );
      const updated = rows[0]!;
      if (before.rows[0]!.admin && !(updated.role === 'admin' && updated.active)) {
        const admins = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM agents WHERE role = 'admin' AND active");
        if (admins.rows[0]!.n === 0) throw new StoreError('last_admin', 'the last active admin must stay an active admin');
      }
      return agentOfRow(updated);
    });
  }
}
