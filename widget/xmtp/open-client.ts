/**
 * Opens an XMTP client that reuses the installation stored in this browser's database (keyed by inbox id, so a
 * persisted key means the same inbox and the same installation on every load). Shared by the visitor's transport
 * and the console's XMTP inbox.
 */
import { Client, type ClientOptions, type Signer } from '@xmtp/browser-sdk';
import { ReadReceiptCodec } from '@xmtp/content-type-read-receipt';
import { ChatMessageCodec } from './chat-message-codec.ts';

/** Any client, whatever its codecs (content is narrowed by content type where it is read). */
export type AnyClient = Client<unknown>;

/** What the client is opened with. */
export interface OpenClientOptions {
  env: 'dev' | 'production' | 'local';
  apiUrl?: string;
  signer: Signer;
  /** `local`: a key only this browser holds, so other installations of its inbox are lost copies to revoke. */
  identity: 'local' | 'wallet';
  /** Receives the client as soon as it exists, so the caller can close() a hung init. */
  track: (client: AnyClient | undefined) => void;
  /** Throws when the caller gave up meanwhile. */
  current: () => void;
}

function clientOptions(options: OpenClientOptions): ClientOptions {
  return {
    env: options.env,
    ...(options.apiUrl ? { apiUrl: options.apiUrl } : {}),
    appVersion: 'anon-chat/0.1',
    // Device sync would only add sync groups and traffic; history lives in each installation's database.
    disableDeviceSync: true,
    codecs: [new ChatMessageCodec(), new ReadReceiptCodec()],
  };
}

/**
 * Built with the constructor rather than `Client.create` so a hung init can be cancelled (close() ends its worker
 * and frees the OPFS handles); `Client.create` (which registers) is used only the first time, after the network has
 * answered once.
 */
export async function openXmtpClient(options: OpenClientOptions): Promise<AnyClient> {
  const identifier = await options.signer.getIdentifier();
  const existing = new Client(clientOptions(options));
  options.track(existing);
  await existing.init(identifier);
  options.current();
  if (await existing.isRegistered()) return existing;
  existing.close();
  options.track(undefined);
  const created = await Client.create(options.signer, clientOptions(options));
  options.track(created);
  options.current();
  if (options.identity === 'local') {
    // A local key lives in one browser: other installations are lost copies (cleared site data); revoking them
    // keeps the inbox below XMTP's installation limit. Never done for a user's own wallet.
    await created.revokeAllOtherInstallations().catch(() => undefined);
  }
  return created;
}
