/**
 * Secrets not given in the environment are generated once and kept in `DATA_DIR/secrets.json` (mode 0600), so
 * visitor tokens and agent logins survive restarts without the operator managing keys.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { readOrCreateSecretFile } from './secret-file.ts';

const fileSchema = z.object({
  visitorToken: z.string().min(16),
  agentToken: z.string().min(16),
  site: z.string().min(16),
});

type Secrets = z.infer<typeof fileSchema>;

/** Name of the secrets file inside the data directory. */
export const SECRETS_FILE = 'secrets.json';

function generate(): Secrets {
  return {
    visitorToken: randomBytes(32).toString('base64url'),
    agentToken: randomBytes(32).toString('base64url'),
    site: randomBytes(32).toString('hex'),
  };
}

/**
 * Returns the secrets to use: each one from `fromEnv` when set, otherwise from the secrets file, which is created
 * on first use. A damaged secrets file is an error naming it, never a silent regeneration (that would log every
 * agent and visitor out).
 */
export function loadSecrets(dataDir: string, fromEnv: Partial<Record<keyof Secrets, string | undefined>>): Secrets {
  const path = join(dataDir, SECRETS_FILE);
  const stored = readOrCreate(path, fromEnv);
  return {
    visitorToken: fromEnv.visitorToken ?? stored.visitorToken,
    agentToken: fromEnv.agentToken ?? stored.agentToken,
    site: fromEnv.site ?? stored.site,
  };
}

function readOrCreate(path: string, fromEnv: Partial<Record<keyof Secrets, string | undefined>>): Secrets {
  if (fromEnv.visitorToken && fromEnv.agentToken && fromEnv.site) {
    return { visitorToken: fromEnv.visitorToken, agentToken: fromEnv.agentToken, site: fromEnv.site };
  }
  return readOrCreateSecretFile(path, fileSchema, generate, {
    notJson: 'is not valid JSON; restore it from a backup or delete it to generate new secrets (this signs everyone out)',
    invalid: 'lacks visitorToken/agentToken/site; restore it from a backup or delete it to generate new secrets',
  });
}
