/**
 * What the accessibility tests measure in a page and axe cannot: colours as the browser computed them (any CSS
 * colour syntax, resolved to sRGB through a canvas), WCAG contrast ratios, and each keyboard focus stop's indicator.
 */
import type { Page } from 'playwright-core';

/** An sRGB colour with alpha, 0–255 per channel and 0–1 alpha. */
export type Rgba = [number, number, number, number];

/** WCAG 2.x relative luminance of an opaque colour. */
export function luminance([r, g, b]: Rgba): number {
  const lin = (c: number): number => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

/** `top` painted over the opaque `bottom`. */
export function over(top: Rgba, bottom: Rgba): Rgba {
  const a = top[3];
  return [top[0] * a + bottom[0] * (1 - a), top[1] * a + bottom[1] * (1 - a), top[2] * a + bottom[2] * (1 - a), 1];
}

/** WCAG contrast ratio of `fg` (blended over `bg` when translucent) against the opaque `bg`, rounded to 2 decimals. */
export function contrast(fg: Rgba, bg: Rgba): number {
  const [a, b] = [luminance(over(fg, bg)), luminance(bg)];
  return Math.round(((Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)) * 100) / 100;
}

/** The in-page half: installed once per page as `window.__probe` (through the DevTools protocol, so a CSP allows it). */
export interface Probe {
  rgba(color: string): Rgba;
  /** The opaque colour behind `el`: its own and its ancestors' backgrounds (across shadow roots) over white. */
  background(el: Element): Rgba;
  /** The focused element, looking into shadow roots. */
  deepActive(): HTMLElement | null;
  describe(el: Element): string;
  parentOf(el: Element): Element | null;
}

function installProbe(): void {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 1;
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  const parentOf = (el: Element): Element | null => el.parentElement ?? ((el.getRootNode() as ShadowRoot).host ?? null);
  const rgba = (color: string): [number, number, number, number] => {
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = 'rgb(0 0 0 / 0)';
    ctx.fillStyle = color;
    ctx.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data as unknown as number[];
    return [r!, g!, b!, a! / 255];
  };
  const probe = {
    rgba,
    parentOf,
    background(el: Element) {
      const layers: Array<[number, number, number, number]> = [];
      for (let node: Element | null = el; node; node = parentOf(node)) {
        const color = rgba(getComputedStyle(node).backgroundColor);
        if (color[3] > 0) layers.push(color);
        if (color[3] >= 1) break;
      }
      let result: [number, number, number, number] = [255, 255, 255, 1];
      for (const top of layers.reverse()) {
        const a = top[3];
        result = [top[0] * a + result[0] * (1 - a), top[1] * a + result[1] * (1 - a), top[2] * a + result[2] * (1 - a), 1];
      }
      return result;
    },
    deepActive() {
      let el = document.activeElement;
      while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
      return el instanceof HTMLElement ? el : null;
    },
    describe(el: Element) {
      const label = el.getAttribute('aria-label') ?? el.getAttribute('placeholder') ?? el.textContent?.trim().slice(0, 30) ?? '';
      return `${el.localName}${el.classList.length ? `.${[...el.classList].join('.')}` : ''} "${label}"`;
    },
  };
  (window as unknown as { __probe: typeof probe }).__probe = probe;
}

/** Makes `window.__probe` available in `page` (again after each navigation). */
export async function installContrastProbe(page: Page): Promise<void> {
  if (!(await page.evaluate(() => '__probe' in window))) await page.evaluate(installProbe);
}

/** One keyboard focus stop and how its indicator looks. */
export interface FocusStop {
  element: string;
  /** Which element draws the indicator (the focused one, or the ancestor a `:has(:focus-visible)` rule styles). */
  drawnBy: string;
  /** `outline` or `box-shadow`; `none` when nothing differs from the unfocused state. */
  indicator: 'outline' | 'box-shadow' | 'none';
  ring: Rgba;
  against: Rgba;
  contrast: number;
}

/**
 * Presses Tab and measures the indicator of the element that receives focus: its (or up to two ancestors') computed
 * outline and box-shadow, focused and then blurred; the first element where they differ draws the indicator, and
 * each changed part's colour is compared with the background it is drawn on (inside the element for a negative
 * outline offset, else around it).
 */
export async function tabToNextStop(page: Page): Promise<FocusStop & { key: string }> {
  await installContrastProbe(page);
  await page.keyboard.press('Tab');
  const raw = await page.evaluate(() => {
    const probe = (window as unknown as { __probe: Probe }).__probe;
    const el = probe.deepActive();
    if (!el || el === document.body) return undefined;
    const marked = el as HTMLElement & { __stop?: string };
    marked.__stop ??= String(Math.random());
    const chain: Element[] = [el];
    for (let i = 0; i < 2; i++) {
      const parent = probe.parentOf(chain[chain.length - 1]!);
      if (parent) chain.push(parent);
    }
    const look = (node: Element) => {
      const s = getComputedStyle(node);
      return { outline: s.outlineStyle === 'none' || s.outlineWidth === '0px' ? 'none' : `${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor}`, color: s.outlineColor, offset: parseFloat(s.outlineOffset), shadow: s.boxShadow };
    };
    const focused = chain.map(look);
    el.blur();
    const unfocused = chain.map(look);
    el.focus();
    for (let i = 0; i < chain.length; i++) {
      const node = chain[i]!;
      const [f, u] = [focused[i]!, unfocused[i]!];
      const behind = probe.background(probe.parentOf(node) ?? node);
      const parts: Array<{ indicator: 'outline' | 'box-shadow'; ring: Rgba; against: Rgba }> = [];
      if (f.outline !== u.outline && f.outline !== 'none') {
        parts.push({ indicator: 'outline', ring: probe.rgba(f.color), against: f.offset < 0 ? probe.background(node) : behind });
      }
      if (f.shadow !== u.shadow && f.shadow !== 'none') {
        // Computed box-shadows start with their colour: "rgb(…) 0px 0px 0px 3px, …".
        parts.push({ indicator: 'box-shadow', ring: probe.rgba(/^(\w+\([^)]*\))/.exec(f.shadow)?.[1] ?? 'transparent'), against: behind });
      }
      if (parts.length) return { key: marked.__stop, element: probe.describe(el), drawnBy: probe.describe(node), parts };
    }
    return { key: marked.__stop, element: probe.describe(el), drawnBy: '', parts: [] };
  });
  let best: Pick<FocusStop, 'indicator' | 'ring' | 'against' | 'contrast'> = { indicator: 'none', ring: [0, 0, 0, 0], against: [255, 255, 255, 1], contrast: 1 };
  if (!raw) return { key: 'body', element: 'body', drawnBy: '', ...best };
  // An indicator in two parts (a band and a ring) is visible when either part stands out from what it covers.
  for (const part of raw.parts) {
    const ratio = contrast(part.ring, part.against);
    if (ratio > best.contrast) best = { ...part, contrast: ratio };
  }
  return { key: raw.key, element: raw.element, drawnBy: raw.drawnBy, indicator: best.indicator, ring: best.ring, against: best.against, contrast: best.contrast };
}

/**
 * Tabs from where focus is now through every stop until one repeats, focus leaves the document, or `until` says the
 * stop is outside what is being checked; returns the stops in order.
 */
export async function walkFocusStops(page: Page, until: (stop: FocusStop) => boolean, max = 40): Promise<FocusStop[]> {
  const stops: Array<FocusStop & { key: string }> = [];
  for (let i = 0; i < max; i++) {
    const stop = await tabToNextStop(page);
    if (stop.key === 'body' || until(stop) || stops.some((s) => s.key === stop.key)) break;
    stops.push(stop);
  }
  return stops.map(({ key: _key, ...stop }) => stop);
}
