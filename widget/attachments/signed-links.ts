/**
 * Signed links to attachments (`GET /api/attachments/:id/link`), fetched once per attachment with the viewer's
 * token and kept until shortly before they expire, so `<img src>` and downloads work without a token header.
 */
import type { AttachmentLink } from '../../protocol/attachment.ts';

/** Ask for a fresh link this long before the current one expires (an image may still be loading). */
const REFRESH_BEFORE_MS = 60_000;
/** After a failed request, wait this long before asking again for that attachment. */
const RETRY_AFTER_MS = 10_000;

/** Where links come from: the bridge and the token of whoever looks (visitor or agent). */
export interface SignedLinkSource {
  serverUrl(): string;
  token(): string | undefined;
  /** Called when a link arrived, so the host renders again. */
  changed(): void;
}

/** A cache of signed links by attachment id. */
export class SignedLinks {
  #links = new Map<string, AttachmentLink>();
  #pending = new Set<string>();
  #failedAt = new Map<string, number>();

  constructor(private readonly source: SignedLinkSource) {}

  /** The link for `id` if one is fresh; otherwise undefined, and one is requested (the host re-renders on arrival). */
  get(id: string): AttachmentLink | undefined {
    // A file still waiting in the outbox shows under its upload key, which is no id the bridge could have issued.
    if (!/^[\w-]+$/.test(id)) return undefined;
    const link = this.#links.get(id);
    const now = Date.now();
    if (link && Date.parse(link.expiresAt) - REFRESH_BEFORE_MS > now) return link;
    if (!this.#pending.has(id) && now - (this.#failedAt.get(id) ?? 0) > RETRY_AFTER_MS) void this.#fetch(id);
    // An expiring link still beats none while its replacement is on the way.
    return link && Date.parse(link.expiresAt) > now ? link : undefined;
  }

  /** Forgets every link (another visitor, an erased conversation). */
  clear(): void {
    this.#links.clear();
    this.#failedAt.clear();
  }

  async #fetch(id: string): Promise<void> {
    const token = this.source.token();
    if (!token) return;
    this.#pending.add(id);
    try {
      const res = await fetch(`${this.source.serverUrl()}/api/attachments/${encodeURIComponent(id)}/link`, {
        headers: { Authorization: `Bearer ${token}` },
        cache: 'no-store',
      });
      if (!res.ok) throw new Error(String(res.status));
      this.#links.set(id, (await res.json()) as AttachmentLink);
      this.#failedAt.delete(id);
      this.source.changed();
    } catch {
      this.#failedAt.set(id, Date.now());
    } finally {
      this.#pending.delete(id);
    }
  }
}
