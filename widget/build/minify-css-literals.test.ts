/** The css`…` minifier keeps what CSS reads and drops only comments and whitespace that cannot matter. */
import { describe, expect, it } from 'vitest';
import { minifyCss } from './minify-css-literals.ts';

describe('minifyCss', () => {
  it('drops comments and indentation, keeps descendant spaces, strings and values', () => {
    const text = `
  /* Touch: 44 px targets. */
  .a :hover,
  .b > .c {
    font-family: var(--font, system-ui, 'Segoe UI');
    margin: 0 auto;
  }
  @media (max-width: 480px), (pointer: coarse) {
    :host([theme='dark']) .d { width: calc(100% - 16px); }
  }
`;
    expect(minifyCss(text)).toBe(
      ".a :hover,.b > .c{font-family: var(--font,system-ui,'Segoe UI');margin: 0 auto;}" +
        "@media (max-width: 480px),(pointer: coarse){:host([theme='dark']) .d{width: calc(100% - 16px);}}",
    );
  });
});
