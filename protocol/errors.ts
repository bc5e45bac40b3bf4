/** The closed set of error codes every socket ack, socket error event and REST error uses. */
export const ErrorCode = {
  badRequest: 'bad_request',
  textEmpty: 'text_empty',
  textTooLong: 'text_too_long',
  /** The text is not well-formed UTF-16 (a lone surrogate). */
  textInvalid: 'text_invalid',
  unauthorized: 'unauthorized',
  forbidden: 'forbidden',
  notFound: 'not_found',
  payloadTooLarge: 'payload_too_large',
  unsupportedMediaType: 'unsupported_media_type',
  rateLimited: 'rate_limited',
  conflict: 'conflict',
  storageUnavailable: 'storage_unavailable',
  upstreamFailed: 'upstream_failed',
  internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Error body shared by socket acks, the `chat:error` event and REST (`{ error: ApiError }`). */
export interface ApiError {
  code: ErrorCode;
  /** Human-readable, safe to show; never exception text or a stack. */
  message: string;
  /** Per-field problems for `bad_request`: path (dot-joined) to message. */
  fields?: Record<string, string>;
  /** For `rate_limited`: milliseconds until a retry may succeed. */
  retryAfterMs?: number;
}

/** Codes after which retrying the same request cannot succeed: the sender marks the message failed. */
export const PERMANENT_ERRORS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'bad_request',
  'text_empty',
  'text_too_long',
  'text_invalid',
  'payload_too_large',
  'forbidden',
  'not_found',
]);

/** Every socket acknowledgement: success with data, or a typed error. */
export type Ack<T> = { ok: true; data: T } | { ok: false; error: ApiError };
