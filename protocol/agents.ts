/** Agent accounts as the REST API and the console see them: roles, the team listing, sign-in results. */
import { hasVisibleText } from './text.ts';
import type { AttachmentLimits } from './attachment.ts';

/** What an agent may do: `admin` manages the team and erases conversations; `agent` answers conversations. */
export const AgentRole = { admin: 'admin', agent: 'agent' } as const;
export type AgentRole = (typeof AgentRole)[keyof typeof AgentRole];

/**
 * Whether an agent takes chats now: each agent sets it in the console. Visitors see the team online only while an
 * agent who is `online` has a console connected (and, with business hours set, only within them).
 */
export const Availability = { online: 'online', away: 'away' } as const;
export type Availability = (typeof Availability)[keyof typeof Availability];

/** Every role, in the order the console lists them. */
export const AGENT_ROLES = [AgentRole.admin, AgentRole.agent] as const;

/** An agent account as admins manage it (`GET /api/agents`) and as the signed-in agent sees itself. */
export interface AgentAccount {
  id: string;
  /** Login name: only agents and admins ever see it. */
  name: string;
  /** What visitors see above the agent's replies. */
  displayName: string;
  role: AgentRole;
  /** False once deactivated: the agent cannot sign in and every session of theirs has ended. */
  active: boolean;
  /** False while the agent has not yet set a password through their invite link. */
  hasPassword: boolean;
  /** Online or Away, as the agent last set it (new agents start online). */
  availability: Availability;
  /** Where notification mails reach the agent (unanswered conversations); absent: none are sent to them. */
  email?: string;
  createdAt: string;
}

/** `POST /api/agents` → 201. */
export interface AgentCreated {
  agent: AgentAccount;
  /** One-time link where the new agent sets their password (valid 7 days); absent when a password was given. */
  inviteUrl?: string;
}

/** `POST /api/auth/login`, `POST /api/auth/invite`, `POST /api/auth/password`. */
/** `GET /api/auth/me`: whose the token is, and the upload limits the console refuses too-large files by. */
export type AuthMe = ({ kind: 'agent'; agent: AgentAccount } | { kind: 'api_key' }) & { attachments: AttachmentLimits };

export interface LoginResult {
  token: string;
  agent: AgentAccount;
  expiresAt: string;
}

/** True when a display name has something to show and no control character or lone surrogate. */
export function isDisplayName(value: string): boolean {
  return hasVisibleText(value) && !/[\p{Cc}\p{Cs}]/u.test(value);
}
