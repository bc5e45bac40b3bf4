import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './config.ts';
import { generateVapidKeys } from './auth/vapid-keys.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'anon-chat-config-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('loadConfig', () => {
  it('applies the documented defaults', async () => {
    const dir = await tempDir();
    const config = loadConfig({ DATA_DIR: dir });
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 5001,
      dataDir: dir,
      publicUrl: 'http://127.0.0.1:5001',
      logLevel: 'info',
      maxHttpBufferSize: 16 * 1024,
      trustProxy: false,
      agentBootstrap: { name: 'admin' },
    });
    expect(config.apiKey).toBeUndefined();
    expect(config.allowedOrigins).toEqual(
      expect.arrayContaining(['http://127.0.0.1:5001', 'http://localhost:5001']),
    );
  });

  it('takes a cluster database from DATABASE_URL, with secrets from the environment and no secrets file', async () => {
    const dir = await tempDir();
    const secrets = { VISITOR_TOKEN_SECRET: 'v'.repeat(32), AGENT_TOKEN_SECRET: 'a'.repeat(32), SITE_SECRET: 's'.repeat(32) };
    const url = 'postgres://chat:pw@db.internal:5432/chat';
    const config = loadConfig({ DATA_DIR: dir, DATABASE_URL: url, ...secrets });
    expect(config.databaseUrl).toBe(url);
    expect(config.secrets).toEqual({ visitorToken: secrets.VISITOR_TOKEN_SECRET, agentToken: secrets.AGENT_TOKEN_SECRET, site: secrets.SITE_SECRET });
    await expect(stat(join(dir, 'secrets.json'))).rejects.toThrow();
    expect(loadConfig({ DATA_DIR: dir, ...secrets }).databaseUrl).toBeUndefined();

    // Per-node generated secrets would differ between nodes: refused, naming what is missing.
    expect(() => loadConfig({ DATA_DIR: dir, DATABASE_URL: url })).toThrow(/SITE_SECRET are required with DATABASE_URL/);
  });

  it('refuses a DATABASE_URL that is not a PostgreSQL URL naming a database, without echoing it', async () => {
    const dir = await tempDir();
    for (const [value, reason] of [
      ['mysql://chat:hunter22@db/chat', 'has scheme "mysql"'],
      ['postgres://chat:hunter22@db:5432/', 'names no database'],
      ['db.internal/chat', 'must be a URL like postgres://'],
    ] as const) {
      let message = '';
      try {
        loadConfig({ DATA_DIR: dir, DATABASE_URL: value });
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        message = (error as Error).message;
      }
      expect(message, value).toContain(`DATABASE_URL: ${reason}`);
      expect(message).not.toContain('hunter22');
    }
  });

  it('turns e-mail on with SMTP_URL and MAIL_FROM, never naming the SMTP password', async () => {
    const dir = await tempDir();
    expect(loadConfig({ DATA_DIR: dir }).mail).toBeUndefined();
    const smtpUrl = 'smtps://mailer:hunter22@mail.example.com:465';
    expect(loadConfig({ DATA_DIR: dir, SMTP_URL: smtpUrl, MAIL_FROM: 'support@example.com' }).mail).toEqual({
      smtpUrl,
      from: 'support@example.com',
      unansweredAfterMs: 300_000,
      visitorAfterMs: 600_000,
    });
    expect(
      loadConfig({ DATA_DIR: dir, SMTP_URL: smtpUrl, MAIL_FROM: 'support@example.com', NOTIFY_UNANSWERED_AFTER_MS: '2000', NOTIFY_VISITOR_AFTER_MS: '3000' }).mail,
    ).toMatchObject({ unansweredAfterMs: 2000, visitorAfterMs: 3000 });
    expect(() => loadConfig({ DATA_DIR: dir, NOTIFY_VISITOR_AFTER_MS: '5' })).toThrow('NOTIFY_VISITOR_AFTER_MS');
    expect(() => loadConfig({ DATA_DIR: dir, SMTP_URL: smtpUrl })).toThrow('MAIL_FROM: required with SMTP_URL');
    let message = '';
    try {
      loadConfig({ DATA_DIR: dir, SMTP_URL: 'ftp://mailer:hunter22@mail.example.com', MAIL_FROM: 'support@example.com' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('SMTP_URL');
    expect(message).not.toContain('hunter22');
  });

  it('names the bad variable', async () => {
    const dir = await tempDir();
    for (const [name, value] of [
      ['PORT', 'eighty'],
      ['PORT', '70000'],
      ['LOG_LEVEL', 'loud'],
      ['TRUST_PROXY', 'maybe'],
      ['API_KEY', 'short'],
      ['SITE_SECRET', 'tiny'],
      ['PUBLIC_URL', 'ftp://x'],
      ['ALLOWED_ORIGINS', 'not a url'],
      ['RATE_LIMIT_MESSAGES_PER_MINUTE', '0'],
      ['HTTP_HEADERS_TIMEOUT_MS', '10'],
      ['HTTP_CONNECTIONS_CHECK_INTERVAL_MS', 'often'],
      ['MAX_CONNECTIONS_PER_IP', '-1'],
      ['CHECKPOINT_INTERVAL_MS', '49'],
      ['CHECKPOINT_INTERVAL_MS', 'often'],
      ['CHECKPOINT_BYTES', '4095'],
      ['CHECKPOINT_BYTES', '1.5'],
      ['SMTP_URL', 'http://mail.example.com'],
      ['MAIL_FROM', 'not an address'],
    ]) {
      expect(() => loadConfig({ DATA_DIR: dir, [name as string]: value }), name).toThrow(ConfigError);
      expect(() => loadConfig({ DATA_DIR: dir, [name as string]: value }), name).toThrow(name);
    }
  });

  it('HTTP server guards: short defaults checked every second, a per-IP cap that is off behind a trusted proxy unless set', async () => {
    const dir = await tempDir();
    expect(loadConfig({ DATA_DIR: dir }).http).toEqual({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
      connectionsCheckIntervalMs: 1_000,
      maxConnectionsPerIp: 1024,
    });
    // Behind a proxy every visitor arrives from the proxy's address: a default cap would cap the whole site.
    expect(loadConfig({ DATA_DIR: dir, TRUST_PROXY: 'true' }).http.maxConnectionsPerIp).toBe(0);
    expect(loadConfig({ DATA_DIR: dir, TRUST_PROXY: 'true', MAX_CONNECTIONS_PER_IP: '5000' }).http.maxConnectionsPerIp).toBe(5000);
    const custom = loadConfig({
      DATA_DIR: dir,
      HTTP_HEADERS_TIMEOUT_MS: '4000',
      HTTP_REQUEST_TIMEOUT_MS: '2000',
      HTTP_KEEP_ALIVE_TIMEOUT_MS: '1500',
      HTTP_CONNECTIONS_CHECK_INTERVAL_MS: '250',
      MAX_CONNECTIONS_PER_IP: '0',
    }).http;
    // Node refuses requestTimeout < headersTimeout: the request timeout is raised to the headers timeout.
    expect(custom).toEqual({ headersTimeoutMs: 4000, requestTimeoutMs: 4000, keepAliveTimeoutMs: 1500, connectionsCheckIntervalMs: 250, maxConnectionsPerIp: 0 });
  });

  it('storage checkpoints: 30 s / 16 MiB by default, the minimums accepted, below them refused with the limit in the message', async () => {
    const dir = await tempDir();
    expect(loadConfig({ DATA_DIR: dir }).storage).toEqual({ checkpointIntervalMs: 30_000, checkpointBytes: 16 * 1024 * 1024 });
    expect(loadConfig({ DATA_DIR: dir, CHECKPOINT_INTERVAL_MS: '50', CHECKPOINT_BYTES: '4096' }).storage).toEqual({
      checkpointIntervalMs: 50,
      checkpointBytes: 4096,
    });
    expect(() => loadConfig({ DATA_DIR: dir, CHECKPOINT_INTERVAL_MS: '10' })).toThrow(/CHECKPOINT_INTERVAL_MS: must be at least 50/);
    expect(() => loadConfig({ DATA_DIR: dir, CHECKPOINT_BYTES: '100' })).toThrow(/CHECKPOINT_BYTES: must be at least 4096/);
  });

  it("the database's idle transaction timeout: 10 s by default, 0 leaves it to the server, 1 – 99 ms refused", async () => {
    const dir = await tempDir();
    expect(loadConfig({ DATA_DIR: dir }).databaseIdleInTransactionTimeoutMs).toBe(10_000);
    expect(loadConfig({ DATA_DIR: dir, DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '0' }).databaseIdleInTransactionTimeoutMs).toBe(0);
    expect(loadConfig({ DATA_DIR: dir, DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '100' }).databaseIdleInTransactionTimeoutMs).toBe(100);
    expect(() => loadConfig({ DATA_DIR: dir, DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '50' })).toThrow(
      /DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: must be 0/,
    );
  });

  it('a frozen node is cut off after 30 s by default, never with 0, at the earliest after 1 s', async () => {
    const dir = await tempDir();
    expect(loadConfig({ DATA_DIR: dir }).databaseFrozenNodeAfterMs).toBe(30_000);
    expect(loadConfig({ DATA_DIR: dir, DATABASE_FROZEN_NODE_AFTER_MS: '0' }).databaseFrozenNodeAfterMs).toBe(0);
    expect(loadConfig({ DATA_DIR: dir, DATABASE_FROZEN_NODE_AFTER_MS: '1000' }).databaseFrozenNodeAfterMs).toBe(1000);
    expect(() => loadConfig({ DATA_DIR: dir, DATABASE_FROZEN_NODE_AFTER_MS: '999' })).toThrow(/DATABASE_FROZEN_NODE_AFTER_MS: must be 0/);
  });

  it('parses ALLOWED_ORIGINS and PORT=0', async () => {
    const dir = await tempDir();
    expect(loadConfig({ DATA_DIR: dir, ALLOWED_ORIGINS: 'https://shop.example, https://a.example:8443/' }).allowedOrigins).toEqual([
      'https://shop.example',
      'https://a.example:8443',
    ]);
    expect(loadConfig({ DATA_DIR: dir, ALLOWED_ORIGINS: '*' }).allowedOrigins).toBe('*');
    expect(loadConfig({ DATA_DIR: dir, PORT: '0' }).port).toBe(0);
  });

  it('generates missing secrets once into DATA_DIR/secrets.json with mode 0600 and prefers env values', async () => {
    const dir = await tempDir();
    const first = loadConfig({ DATA_DIR: dir });
    const file = join(dir, 'secrets.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(loadConfig({ DATA_DIR: dir }).secrets).toEqual(first.secrets);
    const fromEnv = loadConfig({ DATA_DIR: dir, SITE_SECRET: 'site-secret-from-env-1234' });
    expect(fromEnv.secrets.site).toBe('site-secret-from-env-1234');
    expect(fromEnv.secrets.visitorToken).toBe(first.secrets.visitorToken);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(first.secrets);
  });

  it('refuses a damaged secrets file instead of silently replacing it', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'secrets.json'), '{"visitorToken": "tru');
    expect(() => loadConfig({ DATA_DIR: dir })).toThrow(/secrets\.json/);
    expect(await readFile(join(dir, 'secrets.json'), 'utf8')).toBe('{"visitorToken": "tru');
  });

  it('Web Push: a VAPID pair generated once into DATA_DIR/vapid.json (0600), the pair from the environment preferred, none generated for a cluster', async () => {
    const dir = await tempDir();
    const first = loadConfig({ DATA_DIR: dir }).push!;
    expect((await stat(join(dir, 'vapid.json'))).mode & 0o777).toBe(0o600);
    expect(Buffer.from(first.publicKey, 'base64url')).toHaveLength(65);
    expect(Buffer.from(first.privateKey, 'base64url')).toHaveLength(32);
    expect(first.subject).toBe('mailto:admin@localhost');
    expect(loadConfig({ DATA_DIR: dir, MAIL_FROM: 'support@example.com' }).push).toEqual({ ...first, subject: 'mailto:support@example.com' });

    const pair = generateVapidKeys();
    const fromEnv = { VAPID_PUBLIC_KEY: pair.publicKey, VAPID_PRIVATE_KEY: pair.privateKey, VAPID_SUBJECT: 'https://chat.example' };
    expect(loadConfig({ DATA_DIR: dir, ...fromEnv }).push).toEqual({ ...pair, subject: 'https://chat.example' });
    expect(() => loadConfig({ DATA_DIR: dir, VAPID_PUBLIC_KEY: pair.publicKey })).toThrow(/set both or neither/);
    expect(() => loadConfig({ DATA_DIR: dir, ...fromEnv, VAPID_PUBLIC_KEY: pair.privateKey })).toThrow(/VAPID_PUBLIC_KEY/);
    expect(() => loadConfig({ DATA_DIR: dir, ...fromEnv, VAPID_SUBJECT: 'http://chat.example' })).toThrow(/VAPID_SUBJECT/);

    // A damaged key file is refused naming it, never silently replaced (that would end every agent's subscription).
    const keyFile = join(dir, 'vapid.json');
    for (const damage of ['', '{"publicKey": not json', Buffer.alloc(64).toString(), '{"publicKey":"x","privateKey":"y"}']) {
      await writeFile(keyFile, damage);
      expect(() => loadConfig({ DATA_DIR: dir })).toThrow(keyFile);
      expect(await readFile(keyFile, 'utf8')).toBe(damage);
    }

    // A cluster: the nodes must share one pair, so none is generated; Web Push is on only with the environment's.
    const clusterDir = await tempDir();
    const cluster = {
      DATA_DIR: clusterDir,
      DATABASE_URL: 'postgres://chat:pw@db.internal:5432/chat',
      VISITOR_TOKEN_SECRET: 'v'.repeat(32),
      AGENT_TOKEN_SECRET: 'a'.repeat(32),
      SITE_SECRET: 's'.repeat(32),
    };
    expect(loadConfig(cluster).push).toBeUndefined();
    await expect(stat(join(clusterDir, 'vapid.json'))).rejects.toThrow();
    expect(loadConfig({ ...cluster, ...fromEnv }).push?.publicKey).toBe(pair.publicKey);
  });
});
