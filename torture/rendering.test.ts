/**
 * Case 9: ≥ 200 XSS payloads as visitor and agent messages render as inert text in the widget (strict-CSP host
 * page) and the console in real Chromium; the built bundles hold no eval / new Function / unsafeHTML.
 */
import { describe, expect, it } from 'vitest';
import { runRendering, xssPayloads } from './rendering.ts';

describe('rendering of hostile message text', () => {
  it('the corpus has at least 200 distinct payloads', () => {
    const payloads = xssPayloads();
    expect(new Set(payloads).size).toBe(payloads.length);
    expect(payloads.length).toBeGreaterThanOrEqual(200);
  });

  it('every payload renders as text in widget and console: nothing executes, no CSP violation, no injected element, no beacon', async ({ annotate }) => {
    const f = await runRendering();
    await annotate(`payloads=${f.payloads} widget=${f.widgetRendered} console=${f.consoleRendered} executions=${f.executions.length} violations=${f.cspViolations.length}`);
    expect(f.trapsArmed).toBe(true);
    expect(f.executions).toEqual([]);
    expect(f.cspViolations).toEqual([]);
    expect(f.injectedElements).toEqual([]);
    expect(f.beaconRequests).toEqual([]);
    expect(f.bundleFindings).toEqual([]);
    expect(f.widgetRendered).toBeGreaterThanOrEqual(f.payloads);
    expect(f.consoleRendered).toBeGreaterThanOrEqual(f.payloads);
  }, 150_000);
});
