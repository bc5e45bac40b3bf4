/** The console's DOM events between its view elements and the root element, typed for `addEventListener`. */
import type { DraftMessage } from '../widget/attachments/attachment-draft.ts';
import type { ConversationState } from '../protocol/conversation.ts';
import type { LocalMessage } from '../protocol/message.ts';
import type { AssigneeView, InboxFilter } from './state/inbox.ts';
import type { AgentCreatePayload, AgentUpdatePayload } from '../protocol/schemas.ts';
import type { BusinessHours } from '../protocol/business-hours.ts';
import type { AssignmentSettings } from '../protocol/assignment.ts';

/** Detail of each console event. */
export interface ConsoleEventDetails {
  'console-sign-in': { name: string; password: string };
  'console-select': { conversationId: string };
  'console-filter': { filter: InboxFilter };
  'console-search': { query: string };
  'console-assignee-filter': { view: AssigneeView };
  'console-assign': { assigneeId: string | null };
  'console-saved-reply-save': { shortcut: string; text: string };
  'console-saved-reply-delete': { shortcut: string };
  'console-send': { text: string; files?: DraftMessage };
  'console-retry': { message: LocalMessage };
  'console-compose': { active: boolean };
  'console-load-older': Record<string, never>;
  'console-back': Record<string, never>;
  'console-state': { state: ConversationState };
  'console-agent-create': AgentCreatePayload;
  'console-agent-update': { id: string; change: AgentUpdatePayload };
  'console-invite-accept': { password: string };
  'console-profile-save': { displayName: string };
  'console-password-change': { current: string; next: string };
  'console-sign-out': Record<string, never>;
  'console-invite-reissue': { id: string };
  'console-business-hours-save': BusinessHours;
  'console-assignment-save': AssignmentSettings;
}

/** Dispatches a composed, bubbling console event from `target`. */
export function emit<K extends keyof ConsoleEventDetails>(target: EventTarget, name: K, detail: ConsoleEventDetails[K]): void {
  target.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
}

declare global {
  interface GlobalEventHandlersEventMap {
    'console-sign-in': CustomEvent<ConsoleEventDetails['console-sign-in']>;
    'console-select': CustomEvent<ConsoleEventDetails['console-select']>;
    'console-filter': CustomEvent<ConsoleEventDetails['console-filter']>;
    'console-search': CustomEvent<ConsoleEventDetails['console-search']>;
    'console-assignee-filter': CustomEvent<ConsoleEventDetails['console-assignee-filter']>;
    'console-assign': CustomEvent<ConsoleEventDetails['console-assign']>;
    'console-saved-reply-save': CustomEvent<ConsoleEventDetails['console-saved-reply-save']>;
    'console-saved-reply-delete': CustomEvent<ConsoleEventDetails['console-saved-reply-delete']>;
    'console-send': CustomEvent<ConsoleEventDetails['console-send']>;
    'console-retry': CustomEvent<ConsoleEventDetails['console-retry']>;
    'console-compose': CustomEvent<ConsoleEventDetails['console-compose']>;
    'console-load-older': CustomEvent<ConsoleEventDetails['console-load-older']>;
    'console-back': CustomEvent<ConsoleEventDetails['console-back']>;
    'console-state': CustomEvent<ConsoleEventDetails['console-state']>;
    'console-agent-create': CustomEvent<ConsoleEventDetails['console-agent-create']>;
    'console-agent-update': CustomEvent<ConsoleEventDetails['console-agent-update']>;
    'console-invite-accept': CustomEvent<ConsoleEventDetails['console-invite-accept']>;
    'console-profile-save': CustomEvent<ConsoleEventDetails['console-profile-save']>;
    'console-password-change': CustomEvent<ConsoleEventDetails['console-password-change']>;
    'console-sign-out': CustomEvent<ConsoleEventDetails['console-sign-out']>;
    'console-invite-reissue': CustomEvent<ConsoleEventDetails['console-invite-reissue']>;
    'console-business-hours-save': CustomEvent<ConsoleEventDetails['console-business-hours-save']>;
    'console-assignment-save': CustomEvent<ConsoleEventDetails['console-assignment-save']>;
  }
}
