/** Structured logging (pino): one JSON line per event; tests pass `silentLogger` so they print nothing. */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** A JSON logger at `level`, writing to stdout (or `destination`: tests capture what production would print). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'anon-chat' },
    // Tokens, passwords and keys must never reach the log even if a caller logs a whole request.
    redact: ['req.headers.authorization', '*.password', '*.token', 'password', 'token'],
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A logger that drops everything (tests, tools). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
