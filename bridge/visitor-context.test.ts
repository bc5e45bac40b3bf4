/**
 * Visitor context on the lowdb engine (#13): the shared scenario (bridge/testing/visitor-context-scenario.ts), the
 * per-socket rate limit, the User-Agent parsing, and `VISITOR_CONTEXT=false` turning it all off.
 */
import { describe, expect, it } from 'vitest';
import { VISITOR_CONTEXT_REPORTS_PER_MINUTE } from '../protocol/visitor-context.ts';
import { connectVisitor, emitWithAck, startTestBridge } from './testing/index.ts';
import { useTestBridge } from './testing/use-test-bridge.ts';
import { visitorContextScenario } from './testing/visitor-context-scenario.ts';
import { describeUserAgent } from './visitor-context.ts';

const report = { url: 'https://shop.example.com/', title: 'Shop', utcOffsetMinutes: 0 };

describe('visitor context (lowdb)', () => {
  const shared = useTestBridge();

  it('is validated, kept until the first message, stored, updated, pushed to agents, exported and erased', async () => {
    const { url, agent, store } = shared.bridge;
    await visitorContextScenario({ visitorUrl: url, agentUrl: url, adminToken: agent.token, store, track: shared.track });
  });

  it(`takes ${VISITOR_CONTEXT_REPORTS_PER_MINUTE} reports a minute per socket, then refuses with rate_limited`, async () => {
    const visitor = shared.track(await connectVisitor(shared.bridge.url));
    for (let i = 0; i < VISITOR_CONTEXT_REPORTS_PER_MINUTE; i++) {
      expect(await emitWithAck(visitor, 'visitor:context', { ...report, title: `page ${i}` })).toMatchObject({ ok: true });
    }
    expect(await emitWithAck(visitor, 'visitor:context', report)).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
  });
});

describe('describeUserAgent', () => {
  it('names browser, OS and device of common User-Agent headers, and nothing for none', () => {
    expect(
      describeUserAgent('Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'),
    ).toEqual({ browser: 'Safari 17', os: 'iOS 17.5', device: 'mobile' });
    expect(
      describeUserAgent('Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'),
    ).toEqual({ browser: 'Chrome 131', os: 'macOS Catalina', device: 'desktop' });
    expect(describeUserAgent(undefined)).toEqual({});
    expect(describeUserAgent('curl/8.5.0')).toEqual({});
  });
});

describe('visitor context with VISITOR_CONTEXT=false', () => {
  it('is neither asked for nor taken', async () => {
    const tb = await startTestBridge({ config: { visitorContext: false } });
    try {
      const visitor = await connectVisitor(tb.url);
      expect(visitor.session).not.toHaveProperty('visitorContext');
      expect(await emitWithAck(visitor, 'visitor:context', report)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
      visitor.close();
    } finally {
      await tb.close();
    }
  });
});
