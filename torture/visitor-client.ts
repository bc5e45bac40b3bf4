/**
 * A scripted visitor for the torture cases: a real socket.io-client on `/visitor` that keeps its token across
 * reconnects (so a restarted bridge puts it back in the same conversation), sends from an outbox with client
 * ids, retries until acked, and records everything it receives so the checks can assert exactly-once delivery
 * and isolation.
 */
import { io, type Socket } from 'socket.io-client';
import type { Ack } from '../protocol/errors.ts';
import { PERMANENT_ERRORS } from '../protocol/errors.ts';
import type { Message, StatusChange } from '../protocol/message.ts';
import type { VisitorClientToServerEvents, VisitorServerToClientEvents, VisitorSession } from '../protocol/events.ts';
import { WAIT_DEADLINE_MS } from '../bridge/testing/wait-until.ts';

type VisitorSocket = Socket<VisitorServerToClientEvents, VisitorClientToServerEvents>;

/** Options for a scripted visitor. */
export interface TortureVisitorOptions {
  url: string;
  /** Prefix for client ids and texts, unique per visitor. */
  name: string;
  /** Per-send ack timeout before retrying with the same client id. */
  ackTimeoutMs?: number;
  /** Origin header to present (the bridge's own by default). */
  origin?: string;
}

/** A message the visitor wants delivered exactly once. */
export interface OutboxItem {
  clientId: string;
  text: string;
}

/** A scripted visitor with an outbox that survives bridge restarts. */
export class TortureVisitor {
  readonly socket: VisitorSocket;
  session: VisitorSession | undefined;
  readonly acked = new Map<string, Message>();
  readonly received: Message[] = [];
  readonly statuses: StatusChange[] = [];
  /** Errors that must never happen (a permanent refusal of a valid message). */
  readonly permanentErrors: string[] = [];
  readonly ackLatenciesMs: number[] = [];
  /** Count of each retryable error code the bridge answered with (storage_unavailable, rate_limited, …). */
  readonly errorCodes = new Map<string, number>();
  /** The last retryable error the bridge gave (it must say why). */
  lastError: { code: string; message: string } | undefined;
  readonly outbox: OutboxItem[] = [];
  attempts = 0;
  retries = 0;
  private counter = 0;
  private inFlight = false;
  private pumping = false;
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(private readonly options: TortureVisitorOptions) {
    this.socket = io(`${options.url}/visitor`, {
      transports: ['websocket'],
      // A function, so every reconnect presents the latest token (the conversation survives restarts).
      auth: (cb) => cb(this.session ? { token: this.session.token } : {}),
      reconnectionDelay: 50,
      reconnectionDelayMax: 300,
      randomizationFactor: 0.2,
      timeout: 3000,
      extraHeaders: { origin: options.origin ?? options.url },
    });
    this.socket.on('session', (s) => {
      this.session = s;
    });
    this.socket.on('message:new', (m) => {
      this.received.push(m);
    });
    this.socket.on('message:status', (c) => {
      this.statuses.push(c);
    });
    this.socket.on('connect', () => this.wake?.());
  }

  /** Resolves once connected and the session (token, conversation) is known. */
  async ready(timeoutMs = WAIT_DEADLINE_MS): Promise<VisitorSession> {
    const deadline = Date.now() + timeoutMs;
    while (!this.session || !this.socket.connected) {
      if (Date.now() > deadline) throw new Error(`${this.options.name}: waited ${timeoutMs} ms for a connected socket with its session`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.session;
  }

  /** Queues a new message (unique client id and text) and returns it. */
  queue(): OutboxItem {
    const n = ++this.counter;
    const item = { clientId: `${this.options.name}-${n}`, text: `${this.options.name} message ${n}` };
    this.outbox.push(item);
    this.wake?.();
    return item;
  }

  /** True while a send is on its way or awaiting its ack (the crash harness classifies kills by it). */
  get sending(): boolean {
    return this.inFlight;
  }

  /** Sends the outbox head until acked, in order, forever (until `close`). */
  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const head = this.outbox[0];
      if (!head || !this.socket.connected) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, 100);
        });
        continue;
      }
      this.attempts++;
      const started = performance.now();
      let ack: Ack<Message> | undefined;
      this.inFlight = true;
      try {
        ack = (await this.socket.timeout(this.options.ackTimeoutMs ?? 2000).emitWithAck('message:send', head)) as Ack<Message>;
      } catch {
        this.retries++;
        continue;
      } finally {
        this.inFlight = false;
      }
      if (ack.ok) {
        if (ack.data.clientId !== head.clientId) this.permanentErrors.push(`ack for ${head.clientId} carried ${ack.data.clientId}`);
        this.acked.set(head.clientId, ack.data);
        this.ackLatenciesMs.push(performance.now() - started);
        this.outbox.shift();
      } else if (PERMANENT_ERRORS.has(ack.error.code)) {
        this.permanentErrors.push(`${head.clientId}: ${ack.error.code} ${ack.error.message}`);
        this.outbox.shift();
      } else {
        this.retries++;
        this.errorCodes.set(ack.error.code, (this.errorCodes.get(ack.error.code) ?? 0) + 1);
        this.lastError = { code: ack.error.code, message: ack.error.message };
        await new Promise((r) => setTimeout(r, Math.min(ack.error.retryAfterMs ?? 100, 1000)));
      }
    }
  }

  /** Resolves when the outbox is empty (every queued message acked or permanently refused). */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.outbox.length > 0) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 25));
    }
    return true;
  }

  close(): void {
    this.stopped = true;
    this.wake?.();
    this.socket.disconnect();
  }
}

/** The p-th percentile (0–100) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
