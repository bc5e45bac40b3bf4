/**
 * The signed-in agent: signs in over REST, keeps the token in localStorage so a reload stays signed in, and
 * signs out (by choice, at expiry, or when the bridge refuses the token).
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { AgentAccount, AuthMe, Availability, LoginResult } from '../../protocol/agents.ts';
import type { AttachmentLimits } from '../../protocol/attachment.ts';
import type { AgentConnection } from '../agent-connection.ts';
import type { ConnectionUser } from './connection-controller.ts';
import type { ApiError } from '../../protocol/errors.ts';
import { agentRest } from '../agent-rest.ts';

/** localStorage key of the session. */
export const SESSION_STORAGE_KEY = 'anon-chat-console:session';

/** A signed-in agent and its bearer token. */
export interface AgentSession {
  token: string;
  agent: AgentAccount;
  expiresAt: string;
}

function isSession(value: unknown): value is AgentSession {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const agent = v['agent'] as Record<string, unknown> | undefined;
  return (
    typeof v['token'] === 'string' &&
    typeof v['expiresAt'] === 'string' &&
    typeof agent === 'object' &&
    agent !== null &&
    typeof agent['id'] === 'string' &&
    typeof agent['name'] === 'string' &&
    typeof agent['displayName'] === 'string'
  );
}

function readStored(now: number): AgentSession | undefined {
  try {
    const raw = localStorage.getItem(SESSION_STORAGE_KEY);
    if (!raw) return undefined;
    const parsed: unknown = JSON.parse(raw);
    if (!isSession(parsed) || Date.parse(parsed.expiresAt) <= now) {
      localStorage.removeItem(SESSION_STORAGE_KEY);
      return undefined;
    }
    return parsed;
  } catch {
    // Storage can be disabled (privacy mode) or hold garbage; both mean "not signed in".
    return undefined;
  }
}

/** Holds the session and drives sign-in / sign-out for its host. */
export class SessionController implements ReactiveController, ConnectionUser {
  session: AgentSession | undefined;
  /**
   * What the bridge accepts as an upload (ATTACHMENT_MAX_BYTES), read from `GET /api/auth/me` after every connect so a
   * restarted bridge's new limit is known; undefined until then (the bridge still refuses a larger file with 413).
   */
  attachmentLimits: AttachmentLimits | undefined;
  /** Why the last sign-in failed, or why the agent was signed out; shown on the sign-in form. */
  error = '';
  busy = false;
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly host: ReactiveControllerHost,
    private readonly serverUrl: () => string,
  ) {
    host.addController(this);
    this.session = readStored(Date.now());
  }

  hostConnected(): void {
    window.addEventListener('storage', this.onStorage);
    this.scheduleExpiry();
  }

  hostDisconnected(): void {
    window.removeEventListener('storage', this.onStorage);
    clearTimeout(this.expiryTimer);
  }

  attach(_connection: AgentConnection): void {}

  detach(): void {}

  connected(): void {
    void this.readLimits();
  }

  private async readLimits(): Promise<void> {
    const result = await agentRest<AuthMe>({ serverUrl: this.serverUrl, token: () => this.session?.token }, 'GET', '/api/auth/me');
    if (!result.ok) return;
    this.attachmentLimits = result.body.attachments;
    this.host.requestUpdate();
  }

  /** Takes a session the bridge handed out (an accepted invite) as the signed-in one. */
  adopt(result: LoginResult): void {
    this.session = { token: result.token, agent: result.agent, expiresAt: result.expiresAt };
    this.error = '';
    try {
      localStorage.setItem(SESSION_STORAGE_KEY, JSON.stringify(this.session));
    } catch {
      // Without storage the session lasts until the tab closes.
    }
    this.scheduleExpiry();
    this.host.requestUpdate();
  }

  /** Sets the password of an invited agent through their one-time link and signs them in; false when refused. */
  async acceptInvite(token: string, password: string): Promise<boolean> {
    this.busy = true;
    this.error = '';
    this.host.requestUpdate();
    try {
      const res = await fetch(new URL('/api/auth/invite', this.serverUrl()), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token, password }),
      });
      const body = (await res.json().catch(() => undefined)) as (LoginResult & { error?: ApiError }) | undefined;
      if (!res.ok || !body) {
        this.error = body?.error?.fields?.['password'] ? `Password: ${body.error.fields['password']}.` : (body?.error?.message ?? 'Could not set the password.');
        return false;
      }
      this.adopt(body);
      return true;
    } catch {
      this.error = 'Cannot reach the server. Check your connection.';
      return false;
    } finally {
      this.busy = false;
      this.host.requestUpdate();
    }
  }

  /** Signs out by choice: the bridge ends the session (on every node), then it is forgotten here. */
  logOut(): void {
    const token = this.session?.token;
    if (token) {
      void fetch(new URL('/api/auth/logout', this.serverUrl()), {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{}',
        keepalive: true,
      }).catch(() => undefined);
    }
    this.signOut();
  }

  /**
   * Sets the agent Online or Away on the bridge (every console of theirs and every visitor hears it); resolves false
   * when the bridge did not take it.
   */
  async setAvailability(availability: Availability): Promise<boolean> {
    const session = this.session;
    if (!session) return false;
    try {
      const res = await fetch(new URL('/api/auth/availability', this.serverUrl()), {
        method: 'PUT',
        headers: { authorization: `Bearer ${session.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ availability }),
      });
      if (!res.ok) return false;
      const { agent } = (await res.json()) as { agent: AgentAccount };
      if (this.session !== session) return true;
      this.session = { ...session, agent };
      try {
        localStorage.setItem(SESSION_STORAGE_KEY, JSON.stringify(this.session));
      } catch {
        // Without storage the session lasts until the tab closes.
      }
      return true;
    } catch {
      return false;
    } finally {
      this.host.requestUpdate();
    }
  }

  /** Changes the agent's own display name; the refusal, readable, or undefined when saved. */
  async changeDisplayName(displayName: string): Promise<string | undefined> {
    const result = await this.ownRest<{ agent: AgentAccount }>('PATCH', '/api/auth/me', { displayName });
    if (!result.ok) return result.error;
    this.keep({ agent: result.body.agent });
    return undefined;
  }

  /**
   * Changes the agent's own password. The bridge ends every session of theirs and hands this console a new one, so
   * only this console stays signed in. The refusal, readable, or undefined when changed.
   */
  async changePassword(current: string, next: string): Promise<string | undefined> {
    const result = await this.ownRest<LoginResult>('POST', '/api/auth/password', { current, next });
    if (!result.ok) return result.error;
    this.adopt(result.body);
    return undefined;
  }

  private async ownRest<T>(method: string, path: string, json: unknown) {
    this.busy = true;
    this.host.requestUpdate();
    try {
      return await agentRest<T>({ serverUrl: this.serverUrl, token: () => this.session?.token }, method, path, json);
    } finally {
      this.busy = false;
      this.host.requestUpdate();
    }
  }

  /** Merges `change` into the stored session (e.g. the agent as the bridge now knows it). */
  private keep(change: Partial<AgentSession>): void {
    if (!this.session) return;
    this.session = { ...this.session, ...change };
    try {
      localStorage.setItem(SESSION_STORAGE_KEY, JSON.stringify(this.session));
    } catch {
      // Without storage the session lasts until the tab closes.
    }
    this.host.requestUpdate();
  }

  /** Signs in with an agent name and password. */
  async signIn(name: string, password: string): Promise<void> {
    this.busy = true;
    this.error = '';
    this.host.requestUpdate();
    try {
      const res = await fetch(new URL('/api/auth/login', this.serverUrl()), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name, password }),
      });
      if (!res.ok) {
        const body = (await res.json().catch(() => undefined)) as { error?: ApiError } | undefined;
        this.error =
          res.status === 401
            ? 'Wrong name or password.'
            : res.status === 429
              ? 'Too many attempts. Wait a minute and try again.'
              : (body?.error?.message ?? 'Sign-in failed. Try again.');
        return;
      }
      const result = (await res.json()) as LoginResult;
      this.session = { token: result.token, agent: result.agent, expiresAt: result.expiresAt };
      try {
        localStorage.setItem(SESSION_STORAGE_KEY, JSON.stringify(this.session));
      } catch {
        // Without storage the session lasts until the tab closes; signing in still works.
      }
      this.scheduleExpiry();
    } catch {
      this.error = 'Cannot reach the server. Check your connection.';
    } finally {
      this.busy = false;
      this.host.requestUpdate();
    }
  }

  /** Signs out; `reason` is shown on the sign-in form. */
  signOut(reason = ''): void {
    this.session = undefined;
    this.error = reason;
    clearTimeout(this.expiryTimer);
    try {
      localStorage.removeItem(SESSION_STORAGE_KEY);
    } catch {
      // Nothing stored to remove.
    }
    this.host.requestUpdate();
  }

  private scheduleExpiry(): void {
    clearTimeout(this.expiryTimer);
    if (!this.session) return;
    const ms = Date.parse(this.session.expiresAt) - Date.now();
    // setTimeout overflows above 2^31-1 ms; a 12 h token is far below, but a clock change must not fire it at once.
    this.expiryTimer = setTimeout(() => this.signOut('Your session expired. Sign in again.'), Math.min(Math.max(ms, 0), 2 ** 31 - 1));
  }

  // Signing in or out in another tab applies here too.
  private readonly onStorage = (event: StorageEvent): void => {
    if (event.key !== SESSION_STORAGE_KEY) return;
    const next = readStored(Date.now());
    if (next?.token === this.session?.token) return;
    this.session = next;
    this.error = '';
    this.scheduleExpiry();
    this.host.requestUpdate();
  };
}
