/**
 * Errors handlers raise and how they reach clients: always one of the closed `ErrorCode`s with a safe message,
 * never exception text or a stack.
 */
import type { z } from 'zod';
import type { Logger } from 'pino';
import type { ApiError, ErrorCode } from '../protocol/errors.ts';
import { StoreError } from './store/store.ts';

/** An error meant for the client: its code and message are safe to send as they are. */
export class BridgeError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fields?: Record<string, string>,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'BridgeError';
  }

  /** The wire form. */
  toApiError(): ApiError {
    const error: ApiError = { code: this.code, message: this.message };
    if (this.fields) error.fields = this.fields;
    if (this.retryAfterMs !== undefined) error.retryAfterMs = this.retryAfterMs;
    return error;
  }
}

const TEXT_CODES: Record<string, { code: ErrorCode; message: string }> = {
  text_empty: { code: 'text_empty', message: 'The message has no visible text.' },
  text_too_long: { code: 'text_too_long', message: 'The message is too long.' },
  text_invalid: { code: 'text_invalid', message: 'The message contains a broken character (a lone UTF-16 surrogate).' },
};

/** Turns a failed schema validation into `bad_request` (or a `text_…` code for the text field). */
export function validationError(error: z.ZodError): BridgeError {
  const fields: Record<string, string> = {};
  for (const issue of error.issues) {
    const textCode = TEXT_CODES[issue.message];
    if (textCode) return new BridgeError(textCode.code, textCode.message, { [issue.path.join('.') || 'text']: issue.message });
    const path = issue.path.map(String).join('.') || '(payload)';
    // Unknown keys come as one issue listing them; name each so the client sees which key was refused.
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) fields[[...issue.path.map(String), key].join('.')] = 'unknown field';
    } else {
      fields[path] ??= issue.message;
    }
  }
  return new BridgeError('bad_request', 'The request is not valid.', fields);
}

const STORAGE_ERRNOS = new Set(['ENOSPC', 'EACCES', 'EPERM', 'EIO', 'EROFS', 'EDQUOT', 'EMFILE', 'ENFILE', 'EBADF']);

/** Any thrown value as a client-safe ApiError; unexpected ones are logged with their detail. */
export function toApiError(
  error: unknown,
  logger: Logger,
  context: Record<string, unknown> = {},
  storageDegraded = false,
): ApiError {
  if (error instanceof BridgeError) return error.toApiError();
  // The store's own messages name files and ids; clients get a fixed text per code.
  if (error instanceof StoreError) {
    if (error.code === 'not_found') return { code: 'not_found', message: 'No such conversation or message.' };
    if (error.code === 'conflict') return { code: 'conflict', message: 'That already exists.' };
    if (error.code === 'last_admin') return { code: 'conflict', message: 'The team needs at least one active admin.' };
    logger.error({ err: error, ...context }, 'storage failure');
    return { code: 'storage_unavailable', message: 'Storage is unavailable; try again shortly.' };
  }
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  if (storageDegraded || (typeof errno === 'string' && STORAGE_ERRNOS.has(errno))) {
    logger.error({ err: error, ...context }, 'storage failure');
    return { code: 'storage_unavailable', message: 'Storage is unavailable; try again shortly.' };
  }
  logger.error({ err: error, ...context }, 'unexpected failure');
  return { code: 'internal', message: 'Something went wrong on the server.' };
}
