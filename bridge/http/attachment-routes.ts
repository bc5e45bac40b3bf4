/**
 * Attachments over HTTP: `POST /api/attachments` (the file as the raw body, or as the one file of a
 * multipart/form-data body) stores a file for the caller's
 * conversation; `GET /api/attachments/:id[/thumbnail]` serves it to the conversation's participants (its visitor's
 * token, an agent token, the API key) or to whoever holds a short-lived signed link, which
 * `GET /api/attachments/:id/link` hands out to participants. Mounted before any body parser: the body is read here,
 * counted as it arrives.
 */
import { createHash } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import busboy from 'busboy';
import { IMAGE_TYPES, type AttachmentLink } from '../../protocol/attachment.ts';
import { attachmentUploadQuerySchema, entityId } from '../../protocol/schemas.ts';
import type { Author } from '../../protocol/message.ts';
import type { BridgeContext } from '../context.ts';
import type { AttachmentVariant, StoredAttachment } from '../store/store.ts';
import { BridgeError, validationError } from '../api-error.ts';
import { verifyVisitorToken } from '../auth/visitor-token.ts';
import { verifyAgentToken } from '../auth/agent-token.ts';
import { isApiKey } from '../auth/api-key.ts';
import { ensureVisitorConversation, requireConversation, toAttachment, uploaderOf } from '../conversations.ts';
import { cleanName, prepareContent, sniffType } from '../attachments/attachment-content.ts';
import { AttachmentLinks } from '../attachments/attachment-links.ts';
import { isOriginAllowed } from '../realtime/handshake.ts';

/** Who presented a token: a visitor (one conversation) or an agent / the API key (every conversation). */
type AttachmentCaller =
  | { kind: 'visitor'; conversationId: string; visitorId: string }
  | { kind: 'agent'; author: Author };

async function callerOf(ctx: BridgeContext, req: Request): Promise<AttachmentCaller | undefined> {
  const match = /^Bearer ([^\s]{1,4096})$/.exec(req.headers.authorization ?? '');
  const presented = match?.[1];
  if (!presented) return undefined;
  const now = ctx.clock();
  const visitor = await verifyVisitorToken(ctx.config.secrets.visitorToken, presented, now);
  if (visitor) return { kind: 'visitor', conversationId: visitor.conversationId, visitorId: visitor.visitorId };
  if (isApiKey(ctx.config.apiKey, presented)) return { kind: 'agent', author: { role: 'agent', name: 'API' } };
  const claims = await verifyAgentToken(ctx.config.secrets.agentToken, presented, now);
  const agent = claims ? await ctx.store.getAgent(claims.agentId) : undefined;
  return agent ? { kind: 'agent', author: { role: 'agent', agentId: agent.id, name: agent.name } } : undefined;
}

async function requireCaller(ctx: BridgeContext, req: Request): Promise<AttachmentCaller> {
  const caller = await callerOf(ctx, req);
  if (!caller) {
    throw new BridgeError('unauthorized', req.headers.authorization ? 'The token is not valid.' : 'Authentication is required.');
  }
  return caller;
}

/** A participant of the attachment's conversation may read it: its visitor, any agent. */
function mayRead(caller: AttachmentCaller, attachment: StoredAttachment): boolean {
  return caller.kind === 'agent' || caller.conversationId === attachment.conversationId;
}

const NOT_FOUND = 'No such attachment.';

/**
 * The request body, at most `maxBytes`: a declared Content-Length over it is refused before a byte is read, and a
 * body that grows past it (chunked, or lying about its length) is refused as soon as it does. The refusal closes
 * the connection (`Connection: close`), so the rest of the body is never read or drained.
 */
function readBody(req: Request, res: Response, maxBytes: number): Promise<Buffer> {
  const refuse = (): BridgeError => {
    res.setHeader('Connection', 'close');
    return tooLarge(maxBytes);
  };
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) return Promise.reject(refuse());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.byteLength;
      if (total <= maxBytes) return void chunks.push(chunk);
      cleanup();
      // Paused, not destroyed: destroying the request would reset the socket before the 413 is written.
      req.pause();
      reject(refuse());
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, total));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onAborted = (): void => {
      cleanup();
      reject(new BridgeError('bad_request', 'The upload was interrupted.'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/** Boundaries and part headers a form adds around the file: its declared length may pass the limit by this much. */
const FORM_FRAMING_BYTES = 16 * 1024;

/**
 * The one file of a multipart/form-data body and its file name, with the limits of {@link readBody}: a declared
 * length over the limit (plus framing) is refused unread, a file part growing past it as soon as it does. Other
 * fields are ignored; a second file is refused.
 */
function readFormFile(req: Request, res: Response, maxBytes: number): Promise<{ bytes: Buffer; name: string | undefined }> {
  const refuse = (): BridgeError => {
    res.setHeader('Connection', 'close');
    return tooLarge(maxBytes);
  };
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes + FORM_FRAMING_BYTES) return Promise.reject(refuse());
  return new Promise((resolve, reject) => {
    let form: busboy.Busboy;
    try {
      form = busboy({ headers: req.headers, limits: { files: 1, fields: 0, fileSize: maxBytes } });
    } catch {
      return reject(new BridgeError('bad_request', 'The form has no boundary.', { file: 'multipart/form-data with a boundary' }));
    }
    let file: { bytes: Buffer; name: string | undefined } | undefined;
    let settled = false;
    const fail = (error: BridgeError): void => {
      if (settled) return;
      settled = true;
      req.unpipe(form);
      // Paused, not destroyed, as in readBody: the answer must be written before the connection closes.
      req.pause();
      reject(error);
    };
    form.on('file', (_field, stream, info) => {
      const chunks: Buffer[] = [];
      let total = 0;
      stream.on('data', (chunk: Buffer) => {
        total += chunk.byteLength;
        chunks.push(chunk);
      });
      stream.on('limit', () => fail(refuse()));
      stream.on('end', () => {
        if (!stream.truncated) file = { bytes: Buffer.concat(chunks, total), name: info.filename };
      });
    });
    form.on('filesLimit', () => fail(new BridgeError('bad_request', 'One file per upload.', { file: 'one file part only' })));
    form.on('error', () => fail(new BridgeError('bad_request', 'The form is malformed.', { file: 'a well-formed multipart/form-data body' })));
    form.on('close', () => {
      if (settled) return;
      settled = true;
      if (file) resolve(file);
      else reject(new BridgeError('bad_request', 'The form carries no file.', { file: 'required' }));
    });
    req.on('aborted', () => fail(new BridgeError('bad_request', 'The upload was interrupted.')));
    req.pipe(form);
  });
}

function tooLarge(maxBytes: number): BridgeError {
  return new BridgeError('payload_too_large', `Files may be at most ${maxBytes} bytes.`, { file: `larger than ${maxBytes} bytes` });
}

/** RFC 6266 / 8187: an ASCII fallback and the exact UTF-8 name. */
function contentDisposition(kind: 'inline' | 'attachment', name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\%]/g, '_');
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/** One `bytes=` range of `size` bytes: [start, end] inclusive, 'unsatisfiable', or undefined to send everything. */
function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges or another unit: RFC 9110 lets a server ignore Range and send the whole representation.
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    return [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return [start, end];
}

/** Sends stored bytes with the headers that keep them from ever running as a page. */
function serve(req: Request, res: Response, attachment: StoredAttachment, variant: AttachmentVariant, bytes: Uint8Array): void {
  const image = variant === 'thumbnail' || IMAGE_TYPES.has(attachment.type);
  const type = variant === 'thumbnail' ? 'image/webp' : attachment.type === 'text/plain' ? 'text/plain; charset=utf-8' : attachment.type;
  const etag = `"${attachment.sha256}${variant === 'thumbnail' ? '-thumb' : ''}"`;
  res.setHeader('Content-Type', type);
  // A sandboxed, script-less document even if a browser were talked into rendering it; nosniff is set for all routes.
  res.setHeader('Content-Security-Policy', "sandbox; default-src 'none'");
  res.setHeader('Content-Disposition', contentDisposition(image ? 'inline' : 'attachment', attachment.name));
  // Signed links carry their signature in the query: never pass them on in a Referer.
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('ETag', etag);
  // An id's bytes never change; images are cached by the participant's browser only, other files not at all.
  res.setHeader('Cache-Control', image ? 'private, max-age=86400, immutable' : 'private, no-store');
  if (image && req.headers['if-none-match']?.split(/\s*,\s*/).includes(etag)) {
    res.status(304).end();
    return;
  }
  const ifRange = req.headers['if-range'];
  const range = ifRange === undefined || ifRange === etag ? parseRange(req.headers.range, bytes.byteLength) : undefined;
  if (range === 'unsatisfiable') {
    res.setHeader('Content-Range', `bytes */${bytes.byteLength}`);
    res.status(416).end();
    return;
  }
  const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (range) {
    const [start, end] = range;
    res.setHeader('Content-Range', `bytes ${start}-${end}/${bytes.byteLength}`);
    res.setHeader('Content-Length', String(end - start + 1));
    res.status(206).end(body.subarray(start, end + 1));
    return;
  }
  res.setHeader('Content-Length', String(bytes.byteLength));
  res.status(200).end(body);
}

/** The attachments router (mounted under /api, before JSON parsing). */
export function attachmentRouter(ctx: BridgeContext): Router {
  const router = Router();
  const links = new AttachmentLinks(ctx.config.secrets.visitorToken, ctx.config.attachments.linkTtlSeconds);
  const { maxBytes } = ctx.config.attachments;

  // The widget uploads and asks for links from the host page's origin, with its token in a header: CORS for the
  // pages ALLOWED_ORIGINS lists (the same ones that may open the visitor socket), preflights answered here.
  router.use('/attachments', (req, res, next) => {
    const origin = req.headers.origin;
    if (origin === undefined || !isOriginAllowed(ctx.config, origin)) return next();
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.vary('Origin');
    if (req.method !== 'OPTIONS') return next();
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST');
    res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type');
    res.setHeader('Access-Control-Max-Age', '600');
    res.status(204).end();
  });

  router.post('/attachments', async (req, res) => {
    const caller = await requireCaller(ctx, req);
    const parsed = attachmentUploadQuerySchema.safeParse({ ...req.query });
    if (!parsed.success) throw validationError(parsed.error);
    const query = parsed.data;
    let author: Author;
    let conversationId: string;
    if (caller.kind === 'visitor') {
      if (query.conversationId !== undefined && query.conversationId !== caller.conversationId) {
        throw new BridgeError('not_found', 'No such conversation.');
      }
      author = { role: 'visitor' };
      conversationId = caller.conversationId;
    } else {
      if (query.conversationId === undefined) {
        throw new BridgeError('bad_request', 'Name the conversation.', { conversationId: 'required for agents' });
      }
      author = caller.author;
      conversationId = (await requireConversation(ctx, query.conversationId)).id;
    }
    const form = req.is('multipart/form-data') ? await readFormFile(req, res, maxBytes) : undefined;
    const raw = form ? form.bytes : await readBody(req, res, maxBytes);
    const uploader = uploaderOf(author);
    // Without a key from the client, the same bytes uploaded again by the same sender are the same upload.
    const uploadKey = query.uploadKey !== undefined ? `key:${query.uploadKey}` : `sha256:${createHash('sha256').update(raw).digest('hex')}`;
    const earlier = await ctx.store.findAttachmentByUploadKey(conversationId, uploader, uploadKey);
    if (earlier) {
      res.status(200).json({ attachment: toAttachment(earlier) });
      return;
    }
    const type = await sniffType(raw);
    const prepared = await prepareContent(raw, type);
    if (caller.kind === 'visitor') {
      // A file attached before the first message starts the conversation: with the site, as the socket would.
      await ensureVisitorConversation(ctx, { conversationId, name: `Visitor ${caller.visitorId.slice(0, 4).toUpperCase()}`, site: query.site });
    }
    const { attachment, created } = await ctx.store.putAttachment({
      conversationId,
      uploader,
      uploadKey,
      name: cleanName(query.name ?? form?.name),
      type,
      content: prepared.content,
      ...(prepared.thumbnail ? { thumbnail: prepared.thumbnail } : {}),
    });
    if (created) ctx.logger.debug({ conversationId, attachmentId: attachment.id, type, size: attachment.size }, 'attachment stored');
    res.status(created ? 201 : 200).json({ attachment: toAttachment(attachment) });
  });

  /** The attachment named by `:id` when the request may read it (token or signed link); otherwise throws. */
  async function readable(req: Request, variant: AttachmentVariant): Promise<StoredAttachment> {
    const id = entityId.safeParse(req.params.id);
    const { expires, signature } = req.query;
    if (signature !== undefined || expires !== undefined) {
      // Checked before any lookup: a wrong or expired link learns nothing about which ids exist.
      if (!id.success || !links.verify(variant, id.data, expires, signature, ctx.clock())) {
        throw new BridgeError('forbidden', 'The link is not valid or has expired.');
      }
      const attachment = await ctx.store.getAttachment(id.data);
      if (!attachment) throw new BridgeError('not_found', NOT_FOUND);
      return attachment;
    }
    const caller = await requireCaller(ctx, req);
    const attachment = id.success ? await ctx.store.getAttachment(id.data) : undefined;
    // Another conversation's attachment looks exactly like one that does not exist.
    if (!attachment || !mayRead(caller, attachment)) throw new BridgeError('not_found', NOT_FOUND);
    return attachment;
  }

  router.get('/attachments/:id/link', async (req, res) => {
    const caller = await requireCaller(ctx, req);
    const id = entityId.safeParse(req.params.id);
    const attachment = id.success ? await ctx.store.getAttachment(id.data) : undefined;
    if (!attachment || !mayRead(caller, attachment)) throw new BridgeError('not_found', NOT_FOUND);
    const now = ctx.clock();
    const base = `${ctx.config.publicUrl}/api/attachments/${attachment.id}`;
    const content = links.issue('content', attachment.id, now);
    const link: AttachmentLink = { url: `${base}?${content.query}`, expiresAt: content.expiresAt.toISOString() };
    if (attachment.thumbnailSize !== undefined) link.thumbnailUrl = `${base}/thumbnail?${links.issue('thumbnail', attachment.id, now).query}`;
    res.setHeader('Cache-Control', 'no-store');
    res.json(link);
  });

  for (const variant of ['content', 'thumbnail'] as const) {
    router.get(variant === 'content' ? '/attachments/:id' : '/attachments/:id/thumbnail', async (req, res) => {
      const attachment = await readable(req, variant);
      const bytes = await ctx.store.readAttachment(attachment.id, variant);
      if (!bytes) throw new BridgeError('not_found', NOT_FOUND);
      serve(req, res, attachment, variant, bytes);
    });
  }
  return router;
}
