/** Records (`putRecord` and friends): small keyed values with an optional expiry. */
import type { RecordDump } from '../store.ts';
import { json } from './columns.ts';
import type { PostgresState } from './postgres-state.ts';

/** The record calls of the Store. */
export class PostgresRecords {
  constructor(private readonly s: PostgresState) {}

  async putRecord(namespace: string, key: string, value: unknown, expiresAt?: string): Promise<void> {
    await this.s.query(
      `INSERT INTO records (namespace, key, value, expires_at) VALUES ($1, $2, $3::json, $4)
       ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
      [namespace, key, json(value) ?? null, expiresAt ?? null],
    );
  }

  async getRecord<T>(namespace: string, key: string): Promise<T | undefined> {
    const { rows } = await this.s.query<{ value: string | null }>(
      `SELECT value::text AS value FROM records WHERE namespace = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)`,
      [namespace, key, this.s.now()],
    );
    const value = rows[0]?.value;
    return value === undefined || value === null ? undefined : (JSON.parse(value) as T);
  }

  async listRecords(namespace: string, limit: number): Promise<RecordDump[]> {
    const { rows } = await this.s.query<{ key: string; value: string | null; expires_at: string | null }>(
      `SELECT key, value::text AS value, expires_at FROM records
       WHERE namespace = $1 AND (expires_at IS NULL OR expires_at > $2)
       ORDER BY key COLLATE "C" LIMIT $3`,
      [namespace, this.s.now(), Math.max(0, Math.floor(limit))],
    );
    return rows.map((row) => ({
      namespace,
      key: row.key,
      value: row.value === null ? undefined : (JSON.parse(row.value) as unknown),
      ...(row.expires_at !== null ? { expiresAt: row.expires_at } : {}),
    }));
  }

  async deleteRecord(namespace: string, key: string): Promise<void> {
    await this.s.query('DELETE FROM records WHERE namespace = $1 AND key = $2', [namespace, key]);
  }

  async addRecordOnce(namespace: string, key: string, value: unknown, expiresAt?: string): Promise<boolean> {
    // An expired record counts as absent: it is replaced in the same statement.
    const { rows } = await this.s.query(
      `INSERT INTO records (namespace, key, value, expires_at) VALUES ($1, $2, $3::json, $4)
       ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
         WHERE records.expires_at IS NOT NULL AND records.expires_at <= $5
       RETURNING 1`,
      [namespace, key, json(value) ?? null, expiresAt ?? null, this.s.now()],
    );
    return rows.length === 1;
  }
}
