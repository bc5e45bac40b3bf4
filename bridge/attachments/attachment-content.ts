/**
 * What an uploaded file is and what of it is stored: the type is sniffed from the bytes (file-type's magic numbers,
 * then our own test for plain text), never taken from a name or a declared type; images are decoded and encoded
 * again, which drops their metadata (EXIF with GPS, XMP, comments) and anything appended to or hidden in them (a
 * JPEG/HTML polyglot loses its HTML), and get a small WebP thumbnail.
 */
import { ATTACHMENT_TYPES, IMAGE_TYPES, type AttachmentType } from '../../protocol/attachment.ts';
import { BridgeError } from '../api-error.ts';

/** Largest image accepted, in pixels (all frames of an animation together): bounds the memory a decode takes. */
export const MAX_IMAGE_PIXELS = 40_000_000;
/** Thumbnails fit in this square. */
export const THUMBNAIL_SIZE = 320;
/** Longest display name kept, in UTF-16 code units. */
const MAX_NAME_LENGTH = 200;

const ALLOWED = new Set<string>(ATTACHMENT_TYPES);

// Loaded on the first upload, not with the bridge: sharp's native library and file-type's detectors are among the
// heaviest modules the bridge would otherwise load at every start (and every test that imports the bridge with it).
let sharpModule: Promise<typeof import('sharp')> | undefined;
let fileTypeModule: Promise<typeof import('file-type')> | undefined;
const loadSharp = async () => (await (sharpModule ??= import('sharp'))).default;
const loadFileType = () => (fileTypeModule ??= import('file-type'));

/**
 * Plain text: valid UTF-8 (a BOM is fine) without NUL. HTML and SVG sources without an XML declaration pass as
 * plain text on purpose: they are served as `text/plain` downloads, never rendered.
 */
function isPlainText(bytes: Uint8Array): boolean {
  if (bytes.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** The sniffed type of `bytes`, or `unsupported_media_type` naming what was found. */
export async function sniffType(bytes: Uint8Array): Promise<AttachmentType> {
  if (bytes.byteLength === 0) throw new BridgeError('bad_request', 'The file is empty.', { file: 'empty' });
  const { fileTypeFromBuffer } = await loadFileType();
  const found = await fileTypeFromBuffer(bytes);
  if (found) {
    if (ALLOWED.has(found.mime)) return found.mime as AttachmentType;
    throw new BridgeError('unsupported_media_type', `Files of type ${found.mime} cannot be attached.`, {
      file: `type ${found.mime} is not allowed`,
    });
  }
  if (isPlainText(bytes)) return 'text/plain';
  throw new BridgeError('unsupported_media_type', 'Files of this type cannot be attached.', {
    file: 'type not recognised (allowed: PNG, JPEG, GIF, WebP, PDF, plain UTF-8 text)',
  });
}

/** What is stored for an upload. */
export interface PreparedContent {
  content: Uint8Array;
  thumbnail?: Uint8Array;
}

/** Images re-encoded without metadata, plus a thumbnail; other types are stored as uploaded. */
export async function prepareContent(bytes: Uint8Array, type: AttachmentType): Promise<PreparedContent> {
  if (!IMAGE_TYPES.has(type)) return { content: bytes };
  const animated = type === 'image/gif' || type === 'image/webp';
  const input = { limitInputPixels: MAX_IMAGE_PIXELS, failOn: 'error' as const };
  // Outside the try: a sharp that cannot load is an installation fault, not a broken image.
  const sharp = await loadSharp();
  try {
    // autoOrient: the EXIF orientation is applied to the pixels before it is dropped with the rest of the metadata.
    const image = sharp(bytes, { ...input, animated }).autoOrient();
    const content =
      type === 'image/png'
        ? await image.png().toBuffer()
        : type === 'image/jpeg'
          ? await image.jpeg({ quality: 90 }).toBuffer()
          : type === 'image/gif'
            ? await image.gif().toBuffer()
            : await image.webp({ quality: 90 }).toBuffer();
    const thumbnail = await sharp(bytes, input)
      .autoOrient()
      .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 70 })
      .toBuffer();
    return { content, thumbnail };
  } catch (error) {
    if (error instanceof Error && /pixel limit/i.test(error.message)) {
      throw new BridgeError('payload_too_large', `The image has more than ${MAX_IMAGE_PIXELS} pixels.`, {
        file: 'image too large',
      });
    }
    throw new BridgeError('unsupported_media_type', 'The image could not be decoded.', { file: 'broken image' });
  }
}

// Bidi controls (LRE…RLO, LRI…PDI, marks) and C0/C1 controls: a name must read as what it is ("gpj.exe" tricks).
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's purpose.
const UNSAFE_NAME_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A display name: the last path segment of what the uploader gave (a name is never a path here; files are stored
 * by hash), without control or bidi-override characters, at most 200 characters; `file` when nothing is left.
 */
export function cleanName(raw: string | undefined): string {
  const lastSegment = (raw ?? '').split(/[\\/]/).at(-1) ?? '';
  const cleaned = lastSegment.replace(UNSAFE_NAME_CHARACTERS, '').replace(LONE_SURROGATE, '\ufffd').trim();
  const name = cleaned === '.' || cleaned === '..' ? '' : cleaned;
  return name === '' ? 'file' : Array.from(name).slice(0, MAX_NAME_LENGTH).join('').slice(0, MAX_NAME_LENGTH);
}
