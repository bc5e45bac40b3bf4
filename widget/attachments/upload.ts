/**
 * One file upload to `POST /api/attachments` (the raw file as the body) over XMLHttpRequest, the one browser API
 * that reports upload progress everywhere. Retried on network errors with the same upload key, which the bridge
 * dedupes, so a retry never stores a second copy. A 413 is final; but the bridge answers it before reading the body
 * and closes the connection, so the browser may see only a network error: files over the session's limit are
 * therefore refused before they get here (attachment-draft.ts, the outbox's uploads in attachments-module.ts).
 */
import type { Attachment } from '../../protocol/attachment.ts';

/** Why an upload did not store a file: the bridge's error code, `network` or `aborted`; `message` may say it in words. */
export class UploadError extends Error {
  constructor(
    readonly code: string,
    message: string = code,
  ) {
    super(message);
    this.name = 'UploadError';
  }
}

/** What to upload where. */
export interface UploadRequest {
  serverUrl: string;
  token: string;
  file: Blob;
  name: string;
  uploadKey: string;
  /** Agents name the conversation; a visitor's token names its own. */
  conversationId?: string;
  /** The visitor's site key: an upload before the first message starts the conversation on that site. */
  site?: string;
  /** Fraction of the body sent so far, 0…1. */
  onProgress: (fraction: number) => void;
}

/** Network failures retried before giving up; the waits between them grow. */
const RETRY_DELAYS_MS = [1_000, 3_000];

function once(request: UploadRequest, xhr: XMLHttpRequest): Promise<Attachment> {
  return new Promise((resolve, reject) => {
    const query = new URLSearchParams({ name: request.name, uploadKey: request.uploadKey });
    if (request.conversationId) query.set('conversationId', request.conversationId);
    if (request.site) query.set('site', request.site);
    xhr.open('POST', `${request.serverUrl}/api/attachments?${query}`);
    xhr.setRequestHeader('Authorization', `Bearer ${request.token}`);
    xhr.responseType = 'json';
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total > 0) request.onProgress(event.loaded / event.total);
    };
    xhr.onload = () => {
      const body = xhr.response as { attachment?: Attachment; error?: { code?: string } } | null;
      if ((xhr.status === 200 || xhr.status === 201) && body?.attachment) return resolve(body.attachment);
      reject(new UploadError(xhr.status === 413 ? 'payload_too_large' : (body?.error?.code ?? `http_${xhr.status}`)));
    };
    xhr.onerror = () => reject(new UploadError('network'));
    xhr.onabort = () => reject(new UploadError('aborted'));
    xhr.send(request.file);
  });
}

/** Starts the upload; `abort()` stops it (the promise then rejects with `aborted`). */
export function upload(request: UploadRequest): { done: Promise<Attachment>; abort: () => void } {
  let xhr = new XMLHttpRequest();
  let aborted = false;
  let wake: (() => void) | undefined;
  const done = (async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await once(request, xhr);
      } catch (error) {
        const delay = RETRY_DELAYS_MS[attempt];
        if (aborted || !(error instanceof UploadError) || error.code !== 'network' || delay === undefined) throw error;
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, delay);
        });
        if (aborted) throw new UploadError('aborted');
        xhr = new XMLHttpRequest();
      }
    }
  })();
  return {
    done,
    abort: () => {
      aborted = true;
      xhr.abort();
      wake?.();
    },
  };
}
