/**
 * The servers scenarios run against: the real bridge (bench/servers/bridge-server.ts: real config, durable LowdbStore
 * in a temp DATA_DIR, validation, auth, rate limits), the same bridge on PostgreSQL as one node or as two nodes
 * joined by Socket.IO's PostgreSQL adapter (scenario 9), and the bare Socket.IO baseline. Rate limits stay at the
 * bridge defaults except the ones a scenario raises, and every raise is recorded.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Mode } from './scenario.ts';
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
  /**
   * Quick runs (the `npm test` smoke): the scenario only needs a running baseline or bridge and leaves it as it
   * found it (no kill, no restart, no data dir, port or database of its own), so every such scenario gets the same
   * process, started once with SHARED_LIMITS and SHARED_ENV and stopped by `stopSharedTargets`. A smoke judges
   * correctness, not figures; full runs never share (each figure comes from a server that served nothing else).
   */
  shared?: boolean;
}

/** Limits of a shared quick-run bridge: at least what any quick scenario raises its own to. */
const SHARED_LIMITS: Record<RateLimitVar, number> = {
  RATE_LIMIT_MESSAGES_PER_MINUTE: 100_000,
  RATE_LIMIT_EVENTS_PER_MINUTE: 100_000,
  RATE_LIMIT_CONNECTIONS_PER_MINUTE: 100_000,
  RATE_LIMIT_HTTP_PER_MINUTE: 1_000_000,
};

/** Environment of a shared quick-run target (scenario 8's host page is served from another origin). */
const SHARED_ENV: Partial<Record<TargetKind, Record<string, string>>> = { baseline: {}, bridge: { ALLOWED_ORIGINS: '*' } };

/** Whether a scenario's `kind` target may be shared: in quick runs, for the baseline and the bridge on lowdb. */
export const sharesTarget = (kind: TargetKind, ctx: { mode: Mode }): boolean => ctx.mode === 'quick' && (kind === 'baseline' || kind === 'bridge');

/** Shared quick-run targets, by kind. */
const sharedTargets = new Map<TargetKind, Promise<Target>>();

/** Stops the shared quick-run targets (the end of a run). */
export async function stopSharedTargets(): Promise<void> {
  const all = await Promise.allSettled([...sharedTargets.values()]);
  sharedTargets.clear();
  const started = all.flatMap((t) => (t.status === 'fulfilled' ? [t.value] : []));
  await Promise.all(started.map((t) => t.release()));
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

  /** True for a shared quick-run target: `stop` leaves it running for the next scenario. */
  private isShared = false;

  /** The (first) server process. */
  get server(): ServerProcess {
    return this.servers[0]!;
  }

  /** Starts `kind` pinned to SERVER_CORE. */
  static async start(kind: TargetKind, options: TargetOptions = {}): Promise<Target> {
    if (options.shared) return Target.startShared(kind, options);
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

  /** The shared quick-run target of `kind`, started on first use; refuses options it cannot honour. */
  private static startShared(kind: TargetKind, options: TargetOptions): Promise<Target> {
    const env = SHARED_ENV[kind];
    const own = (['dataDir', 'port', 'nodeFlags', 'databaseUrl'] as const).filter((k) => options[k] !== undefined);
    const foreignEnv = Object.entries(options.env ?? {}).filter(([k, v]) => env?.[k] !== v);
    const above = Object.entries(options.limits ?? {}).filter(([k, v]) => v > SHARED_LIMITS[k as RateLimitVar]);
    if (!env || own.length || foreignEnv.length || above.length) {
      throw new Error(`a shared ${kind} target cannot take ${JSON.stringify({ own, foreignEnv, above })}: start one of its own`);
    }
    let shared = sharedTargets.get(kind);
    if (!shared) {
      shared = Target.start(kind, { limits: kind === 'baseline' ? undefined : SHARED_LIMITS, env }).then((t) => {
        t.isShared = true;
        return t;
      });
      sharedTargets.set(kind, shared);
    }
    return shared;
  }

  /** Stops a shared target for good (`stopSharedTargets`). */
  async release(): Promise<void> {
    this.isShared = false;
    await this.stop();
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
    if (this.isShared) return;
    await Promise.all(this.servers.map((s) => s.stop(signal)));
    if (this.ownsDataDir && this.dataDir && !keepData) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
