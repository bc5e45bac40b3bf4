/**
 * Visitor context reporting (#13), built on its own into anon-chat-visitor-context.js
 * (build/visitor-context-module-build.ts) and imported by URL only once a session asks for it
 * (`session.visitorContext`), so none of it counts towards the widget's initial load.
 *
 * It reports the page (URL, title), referrer, language and time zone over the connection the widget already has
 * (`visitor:context`), again whenever the page or its title changes. Single-page apps change both without a load:
 * the Navigation API's `currententrychange` (pushState, replaceState, back/forward, hash changes) triggers a prompt
 * check where the browser has it, `popstate`/`hashchange` elsewhere, and a cheap poll (two string comparisons every
 * CONTEXT_REPORT_GAP_MS, only while the page is visible and the widget connected) catches titles set after the route
 * changed and pushState in browsers without the Navigation API. History methods are not patched: wrapping
 * `history.pushState` fights with routers and other scripts that wrap it too.
 */
import type { ReactiveController, ReactiveControllerHost } from '@lit/reactive-element/reactive-controller.js';
import type { CSSResult } from '@lit/reactive-element/css-tag.js';
import {
  CONTEXT_REPORT_GAP_MS,
  MAX_CONTEXT_TITLE_LENGTH,
  MAX_CONTEXT_URL_LENGTH,
  type VisitorContextReport,
} from '../../protocol/visitor-context.ts';
import type { ConnectionController } from '../controllers/connection-controller.ts';
import { pageUrl } from './page-url.ts';

/** After a navigation event, how long the page gets to set its new title before the check. */
const TITLE_SETTLE_MS = 250;
const HTTP_URL = /^https?:\/\//;

/** The page's context as the bridge's schema takes it; undefined where the page is not an http(s) page. */
export function currentContext(): VisitorContextReport | undefined {
  const url = pageUrl();
  if (url === undefined) return undefined;
  const report: VisitorContextReport = {
    url,
    title: document.title.slice(0, MAX_CONTEXT_TITLE_LENGTH),
    utcOffsetMinutes: -new Date().getTimezoneOffset(),
  };
  const referrer = document.referrer;
  if (HTTP_URL.test(referrer) && referrer.length <= MAX_CONTEXT_URL_LENGTH) report.referrer = referrer;
  const language = navigator.language;
  if (/^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$/.test(language) && language.length <= 35) report.language = language;
  const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (timeZone && timeZone.length <= 64) report.timeZone = timeZone;
  return report;
}

/** Minimal typing of the Navigation API (not in TypeScript's DOM library yet). */
type NavigationTarget = EventTarget | undefined;

/**
 * Reports the visitor context while the element is in the document: once per session (each connection is a new
 * socket on the bridge), then on every change of URL or title, at most once per CONTEXT_REPORT_GAP_MS.
 */
export class VisitorContextReporter implements ReactiveController {
  /** URL and title last reported on this connection. */
  #reported = '';
  #reportedAt = -Infinity;
  #pending: ReturnType<typeof setTimeout> | undefined;
  #poll: ReturnType<typeof setInterval> | undefined;
  #off: (() => void)[] = [];

  constructor(
    host: ReactiveControllerHost,
    private readonly connection: Pick<ConnectionController, 'on' | 'session' | 'state' | 'transport'>,
    private readonly now: () => number = () => performance.now(),
  ) {
    host.addController(this);
  }

  hostConnected(): void {
    const navigation = (globalThis as { navigation?: NavigationTarget }).navigation;
    const listen = (target: EventTarget, event: string, listener: () => void): void => {
      target.addEventListener(event, listener);
      this.#off.push(() => target.removeEventListener(event, listener));
    };
    const navigated = (): void => this.#schedule(TITLE_SETTLE_MS);
    if (navigation) listen(navigation, 'currententrychange', navigated);
    else {
      listen(window, 'popstate', navigated);
      listen(window, 'hashchange', navigated);
    }
    listen(document, 'visibilitychange', () => this.#sync());
    this.#off.push(
      this.connection.on('session', () => {
        // A new socket: the bridge knows nothing of what the previous one reported.
        this.#reported = '';
        this.#sync();
      }),
      this.connection.on('state', () => this.#sync()),
    );
    this.#sync();
  }

  hostDisconnected(): void {
    for (const off of this.#off.splice(0)) off();
    clearTimeout(this.#pending);
    this.#pending = undefined;
    clearInterval(this.#poll);
    this.#poll = undefined;
  }

  /** Polls only while someone could navigate and the report could go out; checks at once. */
  #sync(): void {
    const active = document.visibilityState === 'visible' && this.#canReport();
    if (active && this.#poll === undefined) this.#poll = setInterval(() => this.#check(), CONTEXT_REPORT_GAP_MS);
    if (!active && this.#poll !== undefined) {
      clearInterval(this.#poll);
      this.#poll = undefined;
    }
    if (active) this.#check();
  }

  #canReport(): boolean {
    const { connection } = this;
    return connection.state === 'online' && connection.session?.visitorContext === true && connection.transport?.context !== undefined;
  }

  #schedule(delayMs: number): void {
    if (this.#pending === undefined) {
      this.#pending = setTimeout(() => {
        this.#pending = undefined;
        this.#check();
      }, delayMs);
    }
  }

  #check(): void {
    // Compared raw first: the poll's usual outcome is "unchanged", which costs two reads and a comparison.
    const key = `${location.href}\n${document.title}`;
    if (key === this.#reported || !this.#canReport()) return;
    const wait = this.#reportedAt + CONTEXT_REPORT_GAP_MS - this.now();
    // A burst of route changes goes out as its last state once the gap has passed.
    if (wait > 0) return this.#schedule(wait);
    this.#reported = key;
    const report = currentContext();
    if (!report) return;
    this.#reportedAt = this.now();
    this.connection.transport!.context!(report);
  }
}

/** Starts reporting for `host` (the `<anon-chat>` element) over `connection`. */
export function reportVisitorContext(
  host: ReactiveControllerHost,
  connection: Pick<ConnectionController, 'on' | 'session' | 'state' | 'transport'>,
): { styles?: CSSResult } {
  new VisitorContextReporter(host, connection);
  // Nothing to show, so no stylesheet for the element to add.
  return {};
}
