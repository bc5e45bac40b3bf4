/**
 * Whether this console holds the support team's XMTP identity, and on which network. Turned on once per browser
 * with `/console/?xmtp=dev` (or `production`, `local`; `off` turns it off), optionally `&xmtp-wallet` to sign with
 * the injected wallet; a generated support key can be brought in with `#xmtp-key=0x…` (a fragment never reaches the
 * server). Kept in localStorage; the key never leaves this browser.
 */

/** The console's XMTP settings. */
export interface XmtpConsoleConfig {
  env: 'dev' | 'production' | 'local';
  identity: 'local' | 'wallet';
}

const CONFIG_KEY = 'anon-chat:console:xmtp';

/** localStorage key of the support team's XMTP key for `env` in this console. */
export function supportKeyStorageKey(env: string): string {
  return `anon-chat:console:xmtp:key:${env}`;
}

const ENVS: readonly string[] = ['dev', 'production', 'local'];

/** Reads (and, from the URL, updates) the console's XMTP settings; undefined when XMTP is off. */
export function readXmtpConsoleConfig(location: Location, storage: Storage, history?: History): XmtpConsoleConfig | undefined {
  const params = new URLSearchParams(location.search);
  const asked = params.get('xmtp');
  if (asked === 'off') storage.removeItem(CONFIG_KEY);
  else if (asked && ENVS.includes(asked)) {
    const config: XmtpConsoleConfig = { env: asked as XmtpConsoleConfig['env'], identity: params.has('xmtp-wallet') ? 'wallet' : 'local' };
    storage.setItem(CONFIG_KEY, JSON.stringify(config));
  }
  let config: XmtpConsoleConfig | undefined;
  try {
    const stored = JSON.parse(storage.getItem(CONFIG_KEY) ?? 'null') as Partial<XmtpConsoleConfig> | null;
    if (stored && typeof stored.env === 'string' && ENVS.includes(stored.env)) {
      config = { env: stored.env, identity: stored.identity === 'wallet' ? 'wallet' : 'local' };
    }
  } catch {
    config = undefined;
  }
  const key = /(?:^#|&)xmtp-key=(0x[0-9a-fA-F]{64})(?:&|$)/.exec(location.hash)?.[1];
  if (config && key) {
    storage.setItem(supportKeyStorageKey(config.env), key.toLowerCase());
    // Out of the address bar (and its history) as soon as it is stored.
    history?.replaceState(null, '', location.pathname + location.search);
  }
  return config;
}
