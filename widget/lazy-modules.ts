/** File names of the modules the widget imports by URL from next to its own script, after the launcher painted. */

/** Links, images, files and uploads (widget/attachments, built by attachments-module-build.ts). */
export const ATTACHMENTS_MODULE_FILE = 'anon-chat-attachments.js';
