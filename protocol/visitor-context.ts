/**
 * Visitor context (#13): where a web visitor is and with what, shown to agents beside the conversation. The widget
 * reports the page (URL, title), referrer, language and time zone; the bridge adds browser and OS parsed from the
 * handshake's User-Agent header. Display-only: a visitor can report anything, so nothing may trust it.
 */

/** Longest page or referrer URL a report may carry, in UTF-16 code units. */
export const MAX_CONTEXT_URL_LENGTH = 2048;
/** Longest page title a report may carry; the widget cuts longer titles to this. */
export const MAX_CONTEXT_TITLE_LENGTH = 300;
/**
 * Reports the bridge takes per visitor socket and minute; more are refused with `rate_limited`. The widget sends far
 * fewer (one per change, at most one per {@link CONTEXT_REPORT_GAP_MS}).
 */
export const VISITOR_CONTEXT_REPORTS_PER_MINUTE = 30;
/** Shortest gap between two reports of one widget: a burst of route changes is sent as its last state. */
export const CONTEXT_REPORT_GAP_MS = 2000;

/** What the widget reports (validated by `visitorContextSchema`). */
export interface VisitorContextReport {
  /** The page's URL (http or https). */
  url: string;
  /** `document.title`, cut to MAX_CONTEXT_TITLE_LENGTH; empty when the page has none. */
  title: string;
  /** `document.referrer` when it is an http(s) URL. */
  referrer?: string;
  /** `navigator.language`, a BCP 47 tag. */
  language?: string;
  /** IANA time zone of the visitor's browser, e.g. `Europe/Berlin`. */
  timeZone?: string;
  /** Minutes east of UTC at the time of the report (`-new Date().getTimezoneOffset()`). */
  utcOffsetMinutes: number;
}

/** The context as stored with a conversation and shown to agents. */
export interface VisitorContext extends VisitorContextReport {
  /** Browser name and major version (`Chrome 131`), from the User-Agent header; absent when not recognised. */
  browser?: string;
  /** Operating system (`Windows 10`, `iOS 18.1`), from the User-Agent header. */
  os?: string;
  /** `desktop`, `mobile`, `tablet` or `tv`, from the User-Agent header. */
  device?: string;
  /** ISO time the bridge received this report. */
  updatedAt: string;
}

/** A conversation's visitor context as the `/agent` namespace pushes it (`null`: none known). */
export interface VisitorContextChange {
  conversationId: string;
  context: VisitorContext | null;
}
