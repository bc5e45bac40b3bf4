/** Structured logging (pino): one JSON line per event; tests pass `silentLogger` so they print nothing. */
import { pino, type Logger } from 'pino';

export type { Logger };

/** A JSON logger at `level`, writing to stdout. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'anon-chat' },
    // Tokens, passwords and keys must never reach the log even if a caller logs a whole request.
    redact: ['req.headers.authorization', '*.password', '*.token', 'password', 'token'],
  });
}

/** A logger that drops everything (tests, tools). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
