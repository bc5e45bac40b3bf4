/**
 * Translations that are not in the widget bundle: each is built into its own file next to the widget script
 * (anon-chat-strings-<lang>.js, see build/strings-build.ts) and imported by URL when a widget speaks it, so the
 * initial load stays within its budget however many languages ship.
 */
import { ar } from './ar.ts';
import type { WidgetStrings } from './en.ts';
import { he } from './he.ts';

/** Loadable translations by language tag. */
export const loadableStrings: Readonly<Record<string, WidgetStrings>> = { ar, he };
