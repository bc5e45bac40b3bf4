/** File names of the modules the widget imports by URL from next to its own script, after the launcher painted. */

/** Links, images, files and uploads (widget/attachments, built by attachments-module-build.ts). */
export const ATTACHMENTS_MODULE_FILE = 'anon-chat-attachments.js';

/**
 * The reply-by-email offer (widget/reply-by-email, built by reply-by-email-module-build.ts), imported only once a
 * session offers it while nobody is online.
 */
export const REPLY_BY_EMAIL_MODULE_FILE = 'anon-chat-reply-by-email.js';
/**
 * Visitor context reporting (widget/visitor-context, built by visitor-context-module-build.ts), imported only once a
 * session asks for it (`session.visitorContext`).
 */
export const VISITOR_CONTEXT_MODULE_FILE = 'anon-chat-visitor-context.js';
