/**
 * What became of each inbound webhook request, for the operator: every refusal is logged at warn with a reason from
 * a closed set (never the secret, the presented token or signature, or the body), and every request — accepted,
 * refused or failed — is counted in `anon_chat_inbound_webhooks_total`. Both HTTP paths (the fast path and Express)
 * report through the same recorder.
 */
import type { Logger } from 'pino';
import type { ErrorCode } from '../../protocol/errors.ts';
import { BridgeError } from '../api-error.ts';
import type { BridgeMetrics, InboundWebhook } from '../metrics.ts';

/** Why an inbound webhook was refused (label values and log fields; nothing here echoes the request). */
export type RefusalReason =
  | 'not_configured'
  | 'signature_missing'
  | 'signature_malformed'
  | 'signature_expired'
  | 'bad_signature'
  | 'bad_verify_token'
  | 'bad_mode'
  | 'missing_challenge'
  | 'bad_delivery_id'
  | 'duplicate_delivery'
  | 'unknown_message'
  | 'not_json'
  | 'invalid_json'
  | 'invalid_payload'
  | 'payload_too_large'
  | 'bad_request';

/** A client error that names its refusal reason. */
export class WebhookRefusal extends BridgeError {
  constructor(
    readonly reason: RefusalReason,
    code: ErrorCode,
    message: string,
  ) {
    super(code, message);
    this.name = 'WebhookRefusal';
  }
}

/** The reason of a client error raised without one (schema validation, JSON parsing, body limits). */
const REASON_BY_CODE: Partial<Record<ErrorCode, RefusalReason>> = {
  bad_request: 'invalid_payload',
  unsupported_media_type: 'not_json',
  payload_too_large: 'payload_too_large',
  not_found: 'not_configured',
};

/** Records outcomes of one bridge's inbound webhooks. */
export class InboundOutcomes {
  constructor(
    private readonly logger: Logger,
    private readonly metrics: BridgeMetrics,
  ) {}

  /** An accepted request (answered 2xx). */
  accepted(webhook: InboundWebhook): void {
    this.metrics.inboundWebhook(webhook, 'accepted', 'ok');
  }

  /**
   * A request that ended with `error`: a client error is a refusal (logged here with its reason); anything else is
   * our failure, counted only (the error middleware logs it with its detail).
   */
  ended(webhook: InboundWebhook, error: unknown, reqId: string | undefined): void {
    if (!(error instanceof BridgeError) || error.code === 'internal' || error.code === 'storage_unavailable') {
      this.metrics.inboundWebhook(webhook, 'failed', error instanceof BridgeError ? error.code : 'error');
      return;
    }
    const reason = error instanceof WebhookRefusal ? error.reason : (REASON_BY_CODE[error.code] ?? 'bad_request');
    this.refused(webhook, reason, error.code, reqId);
  }

  /** A refusal with its reason: counted, and logged at warn. */
  refused(webhook: InboundWebhook, reason: RefusalReason, code: ErrorCode, reqId: string | undefined): void {
    this.metrics.inboundWebhook(webhook, 'refused', reason);
    this.logger.warn({ reqId, webhook, reason, code }, 'webhooks: inbound request refused');
  }

  /** `fn`'s outcome recorded: accepted when it resolves, refused or failed when it throws (rethrown). */
  async record<T>(webhook: InboundWebhook, reqId: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      const answer = await fn();
      this.accepted(webhook);
      return answer;
    } catch (error) {
      this.ended(webhook, error, reqId);
      throw error;
    }
  }
}
