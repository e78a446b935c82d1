/**
 * `kiln image report`'s CI rules, as `dive --ci` has them: a largest number of wasted bytes
 * (sizes as dive reads them: 20MB is 20,000,000 bytes, 20MiB 20×1024² — go-humanize's
 * ParseBytes) and a lowest efficiency (a ratio from 0 to 1). A failed rule makes the command
 * exit 1, as dive does.
 */
import { KilnError } from '../errors/kilnError.js';
import type { ImageReport, RuleResult } from './imageReport.js';

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  ki: 1024, kib: 1024, mi: 1024 ** 2, mib: 1024 ** 2, gi: 1024 ** 3, gib: 1024 ** 3, ti: 1024 ** 4, tib: 1024 ** 4,
};

function usage(message: string): KilnError {
  return new KilnError('USAGE', `${message}\nSee 'kiln image report --help'.`, { exitCode: 2 });
}

export function parseSize(text: string, flag: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()];
  if (!m || unit === undefined) throw usage(`invalid value "${text}" for ${flag}: expected a size like 20MB, 512kB or 1GiB`);
  return Math.floor(Number(m[1]) * unit);
}

export function parseRatio(text: string, flag: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw usage(`invalid value "${text}" for ${flag}: expected a ratio from 0 to 1, like 0.9`);
  return n;
}

export interface CiThresholds { maxWasted?: number; minEfficiency?: number }

export function checkRules(report: ImageReport, t: CiThresholds): RuleResult[] {
  const results: RuleResult[] = [];
  if (t.minEfficiency !== undefined) {
    const ok = report.efficiency >= t.minEfficiency;
    results.push({ rule: 'min-efficiency', threshold: t.minEfficiency, result: ok ? 'pass' : 'fail', message: ok ? `efficiency ${report.efficiency.toFixed(4)} ≥ ${t.minEfficiency}` : `image efficiency is too low (efficiency=${report.efficiency.toFixed(4)} < threshold=${t.minEfficiency})` });
  }
  if (t.maxWasted !== undefined) {
    const ok = report.wastedBytes <= t.maxWasted;
    results.push({ rule: 'max-wasted', threshold: t.maxWasted, result: ok ? 'pass' : 'fail', message: ok ? `wasted ${report.wastedBytes} bytes ≤ ${t.maxWasted}` : `too many bytes wasted (wasted-bytes=${report.wastedBytes} > threshold=${t.maxWasted})` });
  }
  return results;
}
