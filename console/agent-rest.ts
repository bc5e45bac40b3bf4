/** The console's REST calls to the bridge, made with the signed-in agent's token; refusals become one readable line. */
import type { ApiError } from '../protocol/errors.ts';

/** Where the bridge is and the agent's token, read at each call. */
export interface AgentRestOptions {
  serverUrl: () => string;
  token: () => string | undefined;
}

/** The answer's body, or a readable refusal (e.g. "That name is taken."). */
export type AgentRestResult<T> = { ok: true; body: T } | { ok: false; error: string };

/** Sends `json` (if any) to `path` and reads the JSON answer; a 204 is an empty body. */
export async function agentRest<T>(options: AgentRestOptions, method: string, path: string, json?: unknown): Promise<AgentRestResult<T>> {
  try {
    const res = await fetch(new URL(path, options.serverUrl()), {
      method,
      headers: {
        authorization: `Bearer ${options.token() ?? ''}`,
        ...(json !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
    });
    if (res.status === 204) return { ok: true, body: {} as T };
    const body = (await res.json().catch(() => undefined)) as (T & { error?: ApiError }) | undefined;
    if (res.ok && body) return { ok: true, body };
    const error = body?.error;
    // A conflict's or refusal's message names what clashes ("The current password is wrong."); otherwise per-field
    // problems say more than the summary.
    const fields = error?.code === 'conflict' || error?.code === 'forbidden' ? undefined : error?.fields;
    return {
      ok: false,
      error: fields
        ? Object.entries(fields).map(([field, problem]) => `${field}: ${problem}`).join('; ')
        : (error?.message || 'The change failed. Try again.'),
    };
  } catch {
    return { ok: false, error: 'Cannot reach the server. Check your connection.' };
  }
}
