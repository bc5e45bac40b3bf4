/**
 * Chooses the visitor's transport from the element's attributes: the bridge (Socket.IO) by default, or XMTP first
 * with the bridge as fallback when `transport="xmtp"` and `xmtp-peer` are set. Everything XMTP (the fallback logic,
 * the SDK, its workers and WASM) is a separate ES module, anon-chat-xmtp.js next to the widget script, imported by
 * URL only when XMTP is configured: the ES and the classic-script build load it the same way, and a page without
 * XMTP never downloads it. Until it has loaded, a DeferredTransport (deferred-transport.ts) stands in; if it cannot
 * load within the bound, the bridge carries the conversation alone.
 */
import { createSocketTransport, type VisitorTransportOptions } from './socket-transport.ts';
import { DeferredTransport } from './deferred-transport.ts';
import type { Transport } from './transport.ts';
import type * as XmtpModule from '../xmtp/xmtp-module.ts';

/** File name of the lazily loaded XMTP module, next to anon-chat.js / anon-chat.iife.js. */
export const XMTP_MODULE_FILE = 'anon-chat-xmtp.js';

/** Longest time from start until the bridge takes over when XMTP cannot load or initialise (README.md "XMTP"). */
export const XMTP_INIT_BOUND_MS = 10_000;

/** XMTP networks `xmtp-env` accepts. */
export type XmtpNetwork = 'dev' | 'production' | 'local';

/** The element's XMTP settings, read from its attributes. */
export interface XmtpConfig {
  env: XmtpNetwork;
  /** The support team's address (0x…) or inbox id. */
  peer: string;
  identity: 'local' | 'wallet';
  /** Where anon-chat-xmtp.js is; defaults to next to the widget script. */
  moduleUrl: string;
  initBoundMs: number;
}

/**
 * Where the widget script came from. The classic (IIFE) build has `document.currentScript` only while it first
 * runs, so it is captured at load; the ES build has `import.meta.url` (the IIFE build turns `import.meta` into `{}`).
 */
const widgetScriptUrl: string | undefined =
  import.meta.url ||
  (typeof document === 'undefined' ? undefined : (document.currentScript as HTMLScriptElement | null)?.src) ||
  undefined;

/**
 * Reads `transport`, `xmtp-env`, `xmtp-peer`, `xmtp-wallet` and `xmtp-module` from the element; undefined when XMTP
 * is not asked for (or has no peer), so the bridge alone is used.
 */
export function readXmtpConfig(element: Pick<Element, 'getAttribute' | 'hasAttribute'>): XmtpConfig | undefined {
  if (element.getAttribute('transport') !== 'xmtp') return undefined;
  const peer = element.getAttribute('xmtp-peer')?.trim();
  if (!peer) return undefined;
  const env = element.getAttribute('xmtp-env');
  return {
    env: env === 'dev' || env === 'local' ? env : 'production',
    peer,
    identity: element.hasAttribute('xmtp-wallet') ? 'wallet' : 'local',
    moduleUrl:
      element.getAttribute('xmtp-module') ||
      (widgetScriptUrl ? new URL(XMTP_MODULE_FILE, widgetScriptUrl).href : XMTP_MODULE_FILE),
    initBoundMs: XMTP_INIT_BOUND_MS,
  };
}

/** Builds the visitor's transport: the bridge alone, or XMTP first with the bridge behind it. */
export function selectTransport(options: VisitorTransportOptions, xmtp: XmtpConfig | undefined): Transport {
  if (!xmtp) return createSocketTransport(options);
  let bridgeConversationId: string | undefined;
  const bridge = createSocketTransport({
    ...options,
    // The element's cursor counts the merged timeline, not the bridge's revisions: the fallback transport catches
    // the bridge up with its own cursor instead of a handshake replay.
    auth: () => {
      const { afterRev: _merged, ...auth } = options.auth();
      return auth;
    },
  });
  bridge.on('session', (session) => {
    bridgeConversationId = session.conversationId;
  });
  const started = Date.now();
  return new DeferredTransport(
    async () => {
      const module = (await import(/* @vite-ignore */ xmtp.moduleUrl)) as typeof XmtpModule;
      return module.createXmtpFallbackTransport({
        bridge,
        xmtp: { env: xmtp.env, peer: xmtp.peer, identity: xmtp.identity, bridgeConversationId: () => bridgeConversationId },
        // One bound from start: loading the module counts against the time XMTP has to come up.
        timings: { initTimeoutMs: Math.max(1000, xmtp.initBoundMs - (Date.now() - started)) },
      });
    },
    bridge,
    xmtp.initBoundMs,
  );
}
