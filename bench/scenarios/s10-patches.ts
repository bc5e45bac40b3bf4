/**
 * Scenario 10 — A/B of the optimisations that patch library internals (STYLE.md "Patching libraries": each must buy
 * ≥ 10 % CPU per message or go): write coalescing over engine.io's flush under scenario 2's chat traffic, the webhook
 * fast path ahead of Express under scenario 6's webhooks. (A replacement socket.io-parser Encoder measured below the
 * bar and was removed.)
 * Each runs with the patch on and off (`BENCH_PATCHES_OFF`), alternating, on the lowdb node and on one PostgreSQL
 * node; the figure is CPU per message of every server process (bridge and PostgreSQL).
 */
import { measure as chat, type Plan as ChatPlan } from './s2-s3-chat.ts';
import { measure as webhooks, type Plan as WebhookPlan } from './s6-webhooks.ts';
import type { LibraryPatch } from '../../bridge/create-bridge.ts';
import type { TargetKind } from '../lib/targets.ts';
import type { Row, Scenario, ScenarioResult } from '../lib/scenario.ts';

const PATCHES: { patch: LibraryPatch; label: string; traffic: 'chat' | 'webhooks' }[] = [
  { patch: 'writeCoalescing', label: 'write coalescing (engine.io flush)', traffic: 'chat' },
  { patch: 'webhookFastPath', label: 'webhook fast path (ahead of Express)', traffic: 'webhooks' },
];
const ENGINES: { kind: TargetKind; label: string }[] = [
  { kind: 'bridge', label: 'lowdb' },
  { kind: 'bridge-pg', label: 'PostgreSQL' },
];

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Scenario 10. */
export const patchesScenario: Scenario = {
  id: 10,
  fullTimeLimitMs: 2_400_000,
  title: 'A/B of the library patches: CPU per message with each one on and off, both engines',
  async run(ctx): Promise<ScenarioResult> {
    const quick = ctx.mode === 'quick';
    const rounds = quick ? 1 : 2;
    const chatPlan: ChatPlan = quick
      ? { pairs: 50, rates: [1000], durationMs: 500, drainMs: 3000, receipts: false }
      : { pairs: 200, rates: [2000], durationMs: 5000, drainMs: 10_000, receipts: false };
    const hookPlan: WebhookPlan = quick
      ? { rates: [1000], durationMs: 300, drainMs: 3000, warmup: { rate: 500, durationMs: 300 } }
      : { rates: [1000], durationMs: 4000, drainMs: 10_000, warmup: { rate: 1000, durationMs: 1000 } };
    const rows: Row[] = [];
    const notes: string[] = [];
    const data: Record<string, unknown> = {};
    for (const { patch, label, traffic } of PATCHES) {
      for (const engine of ENGINES) {
        const on: number[] = [];
        const off: number[] = [];
        // Alternating on/off rounds, so drift in the machine's load hits both sides alike.
        for (let round = 0; round < rounds; round++) {
          for (const variant of round % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
            const env: Record<string, string> = variant === 'off' ? { BENCH_PATCHES_OFF: patch } : {};
            const cpu =
              traffic === 'chat'
                ? (await chat(engine.kind, chatPlan, ctx, env)).steps[0]!.serverCpuPerMessageUs
                : (await webhooks(engine.kind, hookPlan, ctx, env)).steps[0]!.serverCpuPerWebhookUs;
            (variant === 'on' ? on : off).push(cpu);
            ctx.log(`  ${patch} ${variant} on ${engine.label}: ${cpu} µs per ${traffic === 'chat' ? 'message' : 'webhook'}`);
          }
        }
        const gain = 1 - median(on) / median(off);
        rows.push({
          label: `${label}, ${engine.label}: CPU per ${traffic === 'chat' ? 'message' : 'webhook'} on / off`,
          figure: `${median(on)} / ${median(off)} µs (${gain >= 0 ? '−' : '+'}${Math.abs(Math.round(gain * 1000) / 10)} %)`,
          target: 'saves ≥ 10 %',
          met: gain >= 0.1,
        });
        notes.push(`${patch} on ${engine.label}: on ${on.join(', ')} µs; off ${off.join(', ')} µs (medians of ${rounds} alternating rounds).`);
        data[`${patch}:${engine.kind}`] = { on, off, gain };
      }
    }
    notes.unshift(
      `Chat: scenario 2's traffic, ${chatPlan.pairs} conversations at ${chatPlan.rates[0]} msgs/s for ${chatPlan.durationMs / 1000} s; webhooks: scenario 6's at ${hookPlan.rates[0]}/s for ${hookPlan.durationMs / 1000} s. CPU = every server process (bridge; PostgreSQL's processes on PostgreSQL) per offered item.`,
    );
    return { id: 10, title: this.title, rows, failures: [], notes, data: { chatPlan, hookPlan, rounds, ...data } };
  },
};
