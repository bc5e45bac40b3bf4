/**
 * What message text may be sent: the one rule the schemas enforce on the bridge and the widget and console check
 * before offering Send. Dependency-free so the widget bundle can use it without zod.
 */
import { MAX_TEXT_LENGTH } from './limits.ts';

/** Why a text cannot be sent, as the error code the bridge answers with. */
export type TextProblem = 'text_empty' | 'text_too_long' | 'text_invalid';

// Characters that show nothing on their own: white space, control (NUL…), format (zero-width space/joiners, BOM,
// bidi marks), default-ignorables (variation selectors, Hangul fillers) and the braille blank used to fake names.
const INVISIBLE = /^[\p{White_Space}\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]*$/u;
// With the `u` flag a surrogate only matches \p{Cs} when it is not part of a pair.
const LONE_SURROGATE = /\p{Cs}/u;

/** True when `text` has at least one character a reader can see. */
export function hasVisibleText(text: string): boolean {
  return !INVISIBLE.test(text);
}

/** The first reason `text` cannot be sent, or undefined when it can. */
export function textProblem(text: string): TextProblem | undefined {
  if (LONE_SURROGATE.test(text)) return 'text_invalid';
  if (!hasVisibleText(text)) return 'text_empty';
  if (text.length > MAX_TEXT_LENGTH) return 'text_too_long';
  return undefined;
}
