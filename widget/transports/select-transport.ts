/**
 * Chooses the visitor's transport from the element's attributes: the bridge (Socket.IO) by default, or XMTP first
 * with the bridge as fallback when `transport="xmtp"` and `xmtp-peer` are set. The XMTP code and SDK are a separate
 * ES module (anon-chat-xmtp.js next to the widget script), fetched by URL only when XMTP is configured, so both the
 * ES and the classic-script build load it the same way and a page without XMTP never downloads it.
 */
import { FallbackTransport, type FallbackTimings } from './fallback-transport.ts';
import { createSocketTransport, type VisitorTransportOptions } from './socket-transport.ts';
import type { Transport } from './transport.ts';
import type * as XmtpModule from './xmtp-transport.ts';

/** File name of the lazily loaded XMTP module, next to anon-chat.js / anon-chat.iife.js. */
export const XMTP_MODULE_FILE = 'anon-chat-xmtp.js';

/** The element's XMTP settings, read from its attributes. */
export interface XmtpConfig {
  env: XmtpModule.XmtpNetwork;
  peer: string;
  identity: 'local' | 'wallet';
  /** Where anon-chat-xmtp.js is; defaults to next to the widget script. */
  moduleUrl: string;
  timings?: Partial<FallbackTimings>;
}

/**
 * Where the widget script came from. The classic (IIFE) build has `document.currentScript` only while it first
 * runs, so it is captured at load; the ES build has `import.meta.url` (the IIFE build turns `import.meta` into `{}`).
 */
const widgetScriptUrl: string | undefined =
  import.meta.url ||
  (typeof document === 'undefined' ? undefined : (document.currentScript as HTMLScriptElement | null)?.src) ||
  undefined;

const NETWORKS: readonly string[] = ['dev', 'production', 'local'];

/**
 * Reads `transport`, `xmtp-env`, `xmtp-peer`, `xmtp-wallet` and `xmtp-module` from the element; undefined when XMTP
 * is not asked for (or has no peer to talk to), so the bridge alone is used.
 */
export function readXmtpConfig(element: Pick<Element, 'getAttribute' | 'hasAttribute'>): XmtpConfig | undefined {
  if (element.getAttribute('transport') !== 'xmtp') return undefined;
  const peer = element.getAttribute('xmtp-peer')?.trim();
  if (!peer) return undefined;
  const env = element.getAttribute('xmtp-env') ?? 'production';
  const moduleUrl =
    element.getAttribute('xmtp-module') ||
    (widgetScriptUrl ? new URL(XMTP_MODULE_FILE, widgetScriptUrl).href : XMTP_MODULE_FILE);
  return {
    env: (NETWORKS.includes(env) ? env : 'production') as XmtpModule.XmtpNetwork,
    peer,
    identity: element.hasAttribute('xmtp-wallet') ? 'wallet' : 'local',
    moduleUrl,
  };
}

/** Loads the XMTP module by URL; the bundler must not follow it (it is a separate build). */
export function loadXmtpModule(url: string): Promise<typeof XmtpModule> {
  return import(/* @vite-ignore */ url) as Promise<typeof XmtpModule>;
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
  return new FallbackTransport({
    fallback: bridge,
    primary: async () => {
      const module = await loadXmtpModule(xmtp.moduleUrl);
      return module.createXmtpTransport({
        env: xmtp.env,
        peer: xmtp.peer,
        identity: xmtp.identity,
        bridgeConversationId: () => bridgeConversationId,
      });
    },
    ...(xmtp.timings ? { timings: xmtp.timings } : {}),
  });
}
