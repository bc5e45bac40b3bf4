import { describe, expect, it } from 'vitest';
import { textParts } from './text-links.ts';

describe('textParts', () => {
  it('turns http and https addresses into links and keeps the rest as text', () => {
    expect(textParts('see https://example.com/a?b=1#c, or http://x.test.')).toEqual([
      { text: 'see ' },
      { text: 'https://example.com/a?b=1#c', href: 'https://example.com/a?b=1#c' },
      { text: ', or ' },
      { text: 'http://x.test', href: 'http://x.test/' },
      { text: '.' },
    ]);
  });

  it('never links other schemes or markup', () => {
    for (const text of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)//https://x.test', 'data:text/html,<b>x</b>', '<a href="https://x.test">y</a>', 'ftp://x.test']) {
      const links = textParts(text).filter((part) => part.href);
      for (const link of links) expect(link.href).toMatch(/^https?:\/\//);
      expect(textParts(text).map((part) => part.text).join('')).toBe(text);
    }
    expect(textParts('javascript:alert(1)')).toEqual([{ text: 'javascript:alert(1)' }]);
    expect(textParts('<a href="https://x.test">y</a>')).toEqual([
      { text: '<a href="' },
      { text: 'https://x.test', href: 'https://x.test/' },
      { text: '">y</a>' },
    ]);
  });

  it('keeps text without addresses whole', () => {
    expect(textParts('no links here')).toEqual([{ text: 'no links here' }]);
    expect(textParts('')).toEqual([]);
  });
});
