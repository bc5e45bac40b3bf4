/**
 * Turning a signed raw body into JSON safely: the content type must be JSON, nesting is bounded before parsing
 * (a deeply nested body must be a 400, not a stack overflow), and parse errors are client errors.
 */
import type { Request } from 'express';
import { BridgeError } from '../api-error.ts';

/** Deepest object/array nesting accepted in a webhook body (Meta's bodies nest 8 levels). */
export const MAX_JSON_DEPTH = 32;

/** Nesting depth of the JSON text in `raw`, stopping early once it exceeds `limit` (strings are skipped). */
export function jsonDepthExceeds(raw: Buffer, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i];
    if (inString) {
      if (byte === 0x5c) i++; // backslash: skip the escaped byte
      else if (byte === 0x22) inString = false;
      continue;
    }
    if (byte === 0x22) inString = true;
    else if (byte === 0x7b || byte === 0x5b) {
      if (++depth > limit) return true;
    } else if (byte === 0x7d || byte === 0x5d) depth--;
  }
  return false;
}

/** The raw body bytes `express.raw` left on the request (an empty buffer when there was no body). */
export function rawBodyOf(req: Request): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}

/** Parses `raw` as JSON after the content-type and depth checks; throws BridgeError 415/400. */
export function parseJsonBody(req: Request, raw: Buffer): unknown {
  return parseJson(raw, Boolean(req.is('application/json')));
}

/** `parseJsonBody` for a caller that checked the content type itself (`isJson`): the plain-http webhook path. */
export function parseJson(raw: Buffer, isJson: boolean): unknown {
  if (!isJson) throw new BridgeError('unsupported_media_type', 'Send the body as application/json.');
  if (jsonDepthExceeds(raw, MAX_JSON_DEPTH)) throw new BridgeError('bad_request', 'The body is nested too deeply.');
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw new BridgeError('bad_request', 'The body is not valid JSON.');
  }
}
