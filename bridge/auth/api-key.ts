/** The server-to-server API key check (REST `Authorization: Bearer <API_KEY>`). */
import { safeEqual } from './safe-equal.ts';

/** True when integrations are enabled (`apiKey` set) and `presented` equals it (constant time). */
export function isApiKey(apiKey: string | undefined, presented: string): boolean {
  if (!apiKey) return false;
  return safeEqual(apiKey, presented);
}
