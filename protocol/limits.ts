/** Longest message text accepted, in UTF-16 code units (what `String.length` and a textarea count). */
export const MAX_TEXT_LENGTH = 4000;
/** Largest page of messages any history, sync or REST call returns. */
export const MAX_PAGE_SIZE = 100;
/** Default page size when a caller does not ask for one. */
export const DEFAULT_PAGE_SIZE = 50;
/** Longest client id (idempotency key) accepted. */
export const MAX_CLIENT_ID_LENGTH = 100;
/** Minimum gap between typing events a client should send; the bridge drops faster ones. */
export const TYPING_THROTTLE_MS = 2000;
/** A typing indicator that is not refreshed disappears after this long. */
export const TYPING_TTL_MS = 6000;
