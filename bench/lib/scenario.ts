/** The shape every scenario returns, which the report, the chart and the exit code are built from. */

/** Quick (smoke, < 60 s total) or full (the measured run). */
export type Mode = 'quick' | 'full';

/** One printed line: a figure, its target, and how it compares with the baseline measured in the same run. */
export interface Row {
  label: string;
  /** The bridge's figure, formatted with its unit. */
  figure: string;
  /** The target from issue #7, or '—' when the row is informational. */
  target: string;
  /** true met, false missed, null not a target row (or not measurable in this mode). */
  met: boolean | null;
  /** The baseline's figure for the same traffic, formatted. */
  baseline?: string;
  /** bridge ÷ baseline (for throughput: the bridge's share; for latency: how many times slower). */
  ratio?: number;
  /** This engine's figure ÷ the lowdb node's in the same run (scenarios comparing engines). */
  vsLowdb?: number;
}

/** What a scenario produced. */
export interface ScenarioResult {
  id: number;
  title: string;
  rows: Row[];
  /** Correctness problems (lost or duplicated messages): any of these makes `--quick` exit non-zero. */
  failures: string[];
  /** How the scenario was run (sizes, raised limits, interpretation), printed under its table. */
  notes: string[];
  /** Everything measured, for latest.json. */
  data: Record<string, unknown>;
}

/** What a scenario gets from the harness. */
export interface ScenarioContext {
  mode: Mode;
  log: (line: string) => void;
  /** An already built widget (`--widget-dir`) for scenario 8 to load instead of building its own. */
  widgetDir?: string;
}

/** A scenario module. */
export interface Scenario {
  id: number;
  title: string;
  /** Bound on a full run of the scenario (default 15 min): scenarios 9 and 10 start many servers. */
  fullTimeLimitMs?: number;
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}

/** Formats milliseconds. */
export const ms = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? 'n/a' : `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`);
/** Rounds a ratio for printing. */
export const ratio = (a: number, b: number): number | undefined => (b > 0 && Number.isFinite(a / b) ? Math.round((a / b) * 100) / 100 : undefined);
