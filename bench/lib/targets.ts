/**
 * The two servers every scenario runs against: the real bridge (bench/servers/bridge-server.ts: real config,
 * durable LowdbStore in a temp DATA_DIR, validation, auth, rate limits) and the bare Socket.IO baseline.
 * Rate limits stay at the bridge defaults except the ones a scenario raises, and every raise is recorded.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerProcess } from './server-process.ts';

/** Which server a figure comes from. */
export type TargetKind = 'baseline' | 'bridge';

/** The bridge's rate-limit variables a scenario may raise. */
export type RateLimitVar =
  | 'RATE_LIMIT_MESSAGES_PER_MINUTE'
  | 'RATE_LIMIT_EVENTS_PER_MINUTE'
  | 'RATE_LIMIT_CONNECTIONS_PER_MINUTE'
  | 'RATE_LIMIT_HTTP_PER_MINUTE';

/** Bridge defaults (bridge/config.ts), printed next to every raise. */
export const RATE_LIMIT_DEFAULTS: Record<RateLimitVar, number> = {
  RATE_LIMIT_MESSAGES_PER_MINUTE: 60,
  RATE_LIMIT_EVENTS_PER_MINUTE: 600,
  RATE_LIMIT_CONNECTIONS_PER_MINUTE: 60,
  RATE_LIMIT_HTTP_PER_MINUTE: 600,
};

export const AGENT_NAME = 'admin';
export const AGENT_PASSWORD = 'bench-agent-password';
/** Core the server under test is pinned to (the generator takes the other one). */
export const SERVER_CORE = 0;

/** Extra node flags for every bridge process (`--profile` sets --cpu-prof here). */
export const bridgeNodeFlags: string[] = [];

/** Options of `startTarget`. */
export interface TargetOptions {
  limits?: Partial<Record<RateLimitVar, number>>;
  /** Reuse a data directory (restart, pre-filled storage); otherwise a fresh temp dir that `stop` removes. */
  dataDir?: string;
  port?: number;
  env?: Record<string, string>;
  nodeFlags?: string[];
}

/** A running server under test. */
export class Target {
  private constructor(
    readonly kind: TargetKind,
    readonly server: ServerProcess,
    readonly dataDir: string | undefined,
    private readonly ownsDataDir: boolean,
    readonly options: TargetOptions,
  ) {}

  /** Starts `kind` pinned to SERVER_CORE. */
  static async start(kind: TargetKind, options: TargetOptions = {}): Promise<Target> {
    if (kind === 'baseline') {
      const server = await ServerProcess.start({
        script: 'bench/servers/baseline-server.ts',
        core: SERVER_CORE,
        env: { PORT: String(options.port ?? 0) },
        nodeFlags: options.nodeFlags,
      });
      return new Target(kind, server, undefined, false, options);
    }
    const ownsDataDir = options.dataDir === undefined;
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'anon-chat-bench-'));
    const limits = Object.fromEntries(Object.entries(options.limits ?? {}).map(([k, v]) => [k, String(v)]));
    const server = await ServerProcess.start({
      script: 'bench/servers/bridge-server.ts',
      core: SERVER_CORE,
      env: {
        HOST: '127.0.0.1',
        PORT: String(options.port ?? 0),
        DATA_DIR: dataDir,
        LOG_LEVEL: 'warn',
        AGENT_BOOTSTRAP_NAME: AGENT_NAME,
        AGENT_BOOTSTRAP_PASSWORD: AGENT_PASSWORD,
        // Every bench client connects from 127.0.0.1: thousands of them must not hit the per-IP connection cap.
        MAX_CONNECTIONS_PER_IP: '1000000',
        ...limits,
        ...options.env,
      },
      nodeFlags: [...bridgeNodeFlags, ...(options.nodeFlags ?? [])],
      readyTimeoutMs: 60_000,
    });
    return new Target(kind, server, dataDir, ownsDataDir, options);
  }

  get url(): string {
    return this.server.url;
  }

  /** A bearer token for the `/agent` namespace (the baseline accepts anything). */
  async agentToken(): Promise<string> {
    if (this.kind === 'baseline') return 'baseline';
    const res = await fetch(`${this.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: AGENT_NAME, password: AGENT_PASSWORD }),
    });
    if (!res.ok) throw new Error(`agent login failed: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { token: string }).token;
  }

  /** Human-readable list of raised limits (empty for the baseline, which has none). */
  limitsNote(): string {
    if (this.kind === 'baseline') return '';
    const raised = Object.entries(this.options.limits ?? {}).map(
      ([k, v]) => `${k}=${v} (default ${RATE_LIMIT_DEFAULTS[k as RateLimitVar]})`,
    );
    return raised.length ? raised.join(', ') : 'defaults';
  }

  /** Stops the server and removes its temp data dir. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', keepData = false): Promise<void> {
    await this.server.stop(signal);
    if (this.ownsDataDir && this.dataDir && !keepData) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
