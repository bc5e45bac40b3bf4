/** The page's address as the bridge takes it (visitor context, and the page a reply-by-email address was left on). */
import { MAX_CONTEXT_URL_LENGTH } from '../../protocol/visitor-context.ts';

/**
 * `location.href` when it is an http(s) URL; a very long one is cut to origin and path (the rest is mostly query and
 * fragment, and the path still tells where the visitor is); undefined on other pages (file:, about:).
 */
export function pageUrl(): string | undefined {
  let url = location.href;
  if (url.length > MAX_CONTEXT_URL_LENGTH) url = (location.origin + location.pathname).slice(0, MAX_CONTEXT_URL_LENGTH);
  return /^https?:\/\//.test(url) ? url : undefined;
}
