/**
 * Attachments on the wire: what a message carries about each attached file, and the types the bridge accepts.
 * The type is always the one the bridge sniffed from the content, never a name's extension or a declared type.
 */

/** Types a file may have; everything else is refused with `unsupported_media_type`. */
export const ATTACHMENT_TYPES = [
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'application/pdf',
  'text/plain',
] as const;
export type AttachmentType = (typeof ATTACHMENT_TYPES)[number];

/** Raster image types: shown inline, given a thumbnail, stored without metadata. */
export const IMAGE_TYPES: ReadonlySet<AttachmentType> = new Set<AttachmentType>([
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
]);

/** Most attachments one message may carry. */
export const MAX_ATTACHMENTS_PER_MESSAGE = 10;

/** Most attachments one WhatsApp message may carry: the Cloud API sends one image or document per message. */
export const WHATSAPP_MAX_ATTACHMENTS = 1;

/** Longest text that may go with an attachment on WhatsApp, as its caption (Cloud API limit; UTF-16 code units). */
export const WHATSAPP_CAPTION_LENGTH = 1024;

/** What the bridge accepts as an upload, told to the widget in its `session` so it never sends a file it would refuse. */
export interface AttachmentLimits {
  /** ATTACHMENT_MAX_BYTES: a larger file is refused before any of it is sent. */
  maxBytes: number;
}

/** An uploaded file as a message and the upload response carry it. */
export interface Attachment {
  /** Random, unguessable (96+ bits). */
  id: string;
  /** Display name given by the uploader (cleaned: no path, no control or bidi-override characters). */
  name: string;
  type: AttachmentType;
  /** Bytes as stored (images after their metadata was stripped). */
  size: number;
  /** True when the bridge made a thumbnail (`GET /api/attachments/:id/thumbnail`, WebP). */
  thumbnail?: boolean;
}

/** `GET /api/attachments/:id/link`: short-lived URLs that read the file without a token (for `<img src>`, downloads). */
export interface AttachmentLink {
  url: string;
  thumbnailUrl?: string;
  /** ISO time after which both URLs answer 403. */
  expiresAt: string;
}
