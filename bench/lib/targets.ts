/**
 * The servers scenarios run against: the real bridge (bench/servers/bridge-server.ts: real config, durable LowdbStore
 * in a temp DATA_DIR, validation, auth, rate limits), the same bridge on PostgreSQL as one node or as two nodes
 * joined by Socket.IO's PostgreSQL adapter (scenario 9), and the bare Socket.IO baseline. Rate limits stay at the
 * bridge defaults except the ones a scenario raises, and every raise is recorded.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerProcess, type ProbeStats } from './server-process.ts';
import { benchDatabase, postgresCpuSeconds, type PostgresCpu } from './bench-postgres.ts';

/** Which server a figure comes from: the baseline, the bridge on lowdb, on PostgreSQL with one or two nodes. */
export type TargetKind = 'baseline' | 'bridge' | 'bridge-pg' | 'bridge-pg2';

/** Bridge processes of a kind. */
const NODES: Record<TargetKind, number> = { baseline: 1, bridge: 1, 'bridge-pg': 1, 'bridge-pg2': 2 };

/** Secrets PostgreSQL nodes need (a cluster takes them from the environment, equal on every node). */
const CLUSTER_SECRETS = {
  VISITOR_TOKEN_SECRET: 'bench-visitor-token-secret-0123456789',
  AGENT_TOKEN_SECRET: 'bench-agent-token-secret-0123456789',
  SITE_SECRET: 'bench-site-secret-0123456789',
};

/** True for the bridge on PostgreSQL (one or two nodes). */
export const onPostgres = (kind: TargetKind): boolean => kind === 'bridge-pg' || kind === 'bridge-pg2';

/** CPU seconds used so far by every process of a target. */
export interface TargetCpu {
  /** Each bridge (or baseline) process, in node order. */
  nodes: number[];
  /** The PostgreSQL server's processes (zero without PostgreSQL). */
  postgres: PostgresCpu;
  total: number;
}

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
  /** PostgreSQL kinds: a database prepared beforehand (e.g. pre-filled); default a fresh one. */
  databaseUrl?: string;
}

/** A running server under test. */
export class Target {
  private constructor(
    readonly kind: TargetKind,
    /** Every process of the target; `server` is the first. */
    readonly servers: ServerProcess[],
    readonly dataDir: string | undefined,
    private readonly ownsDataDir: boolean,
    readonly options: TargetOptions,
  ) {}

  /** The (first) server process. */
  get server(): ServerProcess {
    return this.servers[0]!;
  }

  /** Starts `kind` pinned to SERVER_CORE. */
  static async start(kind: TargetKind, options: TargetOptions = {}): Promise<Target> {
    if (kind === 'baseline') {
      const server = await ServerProcess.start({
        script: 'bench/servers/baseline-server.ts',
        core: SERVER_CORE,
        env: { PORT: String(options.port ?? 0), ...options.env },
        nodeFlags: options.nodeFlags,
      });
      return new Target(kind, [server], undefined, false, options);
    }
    const ownsDataDir = options.dataDir === undefined;
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'anon-chat-bench-'));
    const limits = Object.fromEntries(Object.entries(options.limits ?? {}).map(([k, v]) => [k, String(v)]));
    const database = onPostgres(kind) ? { DATABASE_URL: options.databaseUrl ?? (await benchDatabase(SERVER_CORE)), ...CLUSTER_SECRETS } : {};
    const servers: ServerProcess[] = [];
    // One after the other: the first node migrates the fresh database.
    for (let node = 0; node < NODES[kind]; node++) {
      servers.push(
        await ServerProcess.start({
          script: 'bench/servers/bridge-server.ts',
          core: SERVER_CORE,
          env: {
            HOST: '127.0.0.1',
            PORT: String(node === 0 ? (options.port ?? 0) : 0),
            DATA_DIR: dataDir,
            LOG_LEVEL: 'warn',
            AGENT_BOOTSTRAP_NAME: AGENT_NAME,
            AGENT_BOOTSTRAP_PASSWORD: AGENT_PASSWORD,
            // Every bench client connects from 127.0.0.1: thousands of them must not hit the per-IP connection cap.
            MAX_CONNECTIONS_PER_IP: '1000000',
            ...database,
            ...limits,
            ...options.env,
          },
          nodeFlags: [...bridgeNodeFlags, ...(options.nodeFlags ?? [])],
          readyTimeoutMs: 60_000,
        }),
      );
    }
    return new Target(kind, servers, dataDir, ownsDataDir, options);
  }

  /** The first node's URL (logins, the agent console). */
  get url(): string {
    return this.server.url;
  }

  /** The node client `i` connects to: round robin, as a load balancer spreads new connections. */
  urlFor(i: number): string {
    return this.servers[i % this.servers.length]!.url;
  }

  /** The node the agent console connects to: the last one, so with two nodes every visitor message crosses the adapter half the time. */
  get agentUrl(): string {
    return this.servers[this.servers.length - 1]!.url;
  }

  /** CPU seconds so far of every bridge process and of the PostgreSQL server. */
  async cpu(): Promise<TargetCpu> {
    const nodes = this.servers.map((s) => s.cpuSeconds());
    const postgres = onPostgres(this.kind) ? await postgresCpuSeconds() : { backends: 0, walWriter: 0, other: 0 };
    return { nodes, postgres, total: nodes.reduce((a, b) => a + b, 0) + postgres.backends + postgres.walWriter + postgres.other };
  }

  /** Every node's probe figures; event-loop and memory figures are the worst node's. */
  async stats(opts: { reset?: boolean; gc?: boolean } = {}): Promise<ProbeStats> {
    const all = await Promise.all(this.servers.map((s) => s.stats(opts)));
    return all.reduce((worst, s) => ({
      eventLoop: {
        p50: Math.max(worst.eventLoop.p50, s.eventLoop.p50),
        p99: Math.max(worst.eventLoop.p99, s.eventLoop.p99),
        max: Math.max(worst.eventLoop.max, s.eventLoop.max),
      },
      rss: Math.max(worst.rss, s.rss),
      heapUsed: Math.max(worst.heapUsed, s.heapUsed),
      extra: worst.extra,
    }));
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

  /** Stops the servers and removes the temp data dir. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', keepData = false): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop(signal)));
    if (this.ownsDataDir && this.dataDir && !keepData) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
