/** Finds the web addresses in message text; only http(s) addresses that parse as URLs count. */

/** An address as people paste it: from `http://` or `https://` up to the next space or angle bracket. */
const ADDRESS = /\bhttps?:\/\/[^\s<>"]+/gi;
/** Punctuation that ends a sentence rather than the address ("see https://x.test/a."). */
const TRAILING = /[.,;:!?'")\]}]+$/;

/** One piece of message text: plain text, or a link with the address it opens. */
export type TextPart = { text: string; href?: string };

/** Splits `text` into plain parts and http(s) links; anything that does not parse as an http(s) URL stays text. */
export function textParts(text: string): TextPart[] {
  const parts: TextPart[] = [];
  let last = 0;
  for (const match of text.matchAll(ADDRESS)) {
    const found = match[0].replace(TRAILING, '');
    let href: string | undefined;
    try {
      const url = new URL(found);
      if (url.protocol === 'http:' || url.protocol === 'https:') href = url.href;
    } catch {
      href = undefined;
    }
    if (!href) continue;
    if (match.index > last) parts.push({ text: text.slice(last, match.index) });
    parts.push({ text: found, href });
    last = match.index + found.length;
  }
  if (last < text.length) parts.push({ text: text.slice(last) });
  return parts;
}
