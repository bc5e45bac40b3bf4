/** Conversation assignment and saved replies as the REST API, the agent namespace and the console see them. */

/** Which conversations an inbox list shows: the caller's, the unassigned ones, or (absent) everyone's. */
export const AssigneeFilter = { mine: 'mine', unassigned: 'unassigned' } as const;
export type AssigneeFilter = (typeof AssigneeFilter)[keyof typeof AssigneeFilter];

/** A teammate as every agent sees them (`GET /api/team`): whom a conversation can be assigned or transferred to. */
export interface TeamMember {
  id: string;
  /** What visitors see above the agent's replies; the console shows it for assignees too. */
  displayName: string;
}

/** `GET/PUT /api/settings/assignment`: how unassigned conversations get an assignee besides a reply. */
export interface AssignmentSettings {
  /**
   * When true, a visitor message in an unassigned conversation assigns it to the next Online agent with a console
   * open, in turn (it stays unassigned while there is none).
   */
  roundRobin: boolean;
}

/** A saved reply: agents type `/shortcut` in the composer to insert `text`. */
export interface SavedReply {
  /** Lower-case letters, digits, `-` and `_`; unique. */
  shortcut: string;
  text: string;
  updatedAt: string;
}

/** The most saved replies a team keeps. */
export const MAX_SAVED_REPLIES = 500;
