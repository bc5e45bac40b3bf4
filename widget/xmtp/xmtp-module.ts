/**
 * Entry of the lazily loaded XMTP module (dist/widget/anon-chat-xmtp.js): the fallback logic, and behind one more
 * dynamic import the XMTP transport with the SDK. The widget imports this by URL only when `transport="xmtp"`.
 */
import { FallbackTransport, type FallbackTimings } from '../transports/fallback-transport.ts';
import type { Transport } from '../transports/transport.ts';
import type { XmtpTransportOptions } from '../transports/xmtp-transport.ts';

/** What the widget hands over: the bridge transport it built, and the XMTP settings from the element. */
export interface XmtpFallbackOptions {
  bridge: Transport;
  xmtp: Omit<XmtpTransportOptions, 'storage' | 'ethereum'>;
  timings?: Partial<FallbackTimings>;
}

/** XMTP first, the given bridge transport as fallback. */
export function createXmtpFallbackTransport(options: XmtpFallbackOptions): Transport {
  return new FallbackTransport({
    fallback: options.bridge,
    primary: async () => {
      const { createXmtpTransport } = await import('../transports/xmtp-transport.ts');
      return createXmtpTransport(options.xmtp);
    },
    ...(options.timings ? { timings: options.timings } : {}),
  });
}
