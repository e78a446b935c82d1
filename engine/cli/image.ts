/**
 * `kiln image report IMAGE [-o FILE.html|FILE.json]`: what each layer of an image holds, the
 * space later layers waste, and dive's efficiency; `--max-wasted` and `--min-efficiency` fail
 * the command (exit 1) as `dive --ci` does. A summary goes to standard output either way.
 */
import { usageError, type CommandSpec, type ParsedArgs } from './args.js';
import { humanSize } from '../units/humanUnits.js';
import { checkRules, parseRatio, parseSize } from '../report/ciRules.js';
import * as reportFile from '../report/reportFile.js';
import { openStore } from './openStore.js';
import { parseImageArgument } from '../image/imageArgument.js';
import { analyzeImage } from '../report/imageAnalysis.js';
import type { ImageReport } from '../report/imageReport.js';

export const spec: CommandSpec = {
  name: 'image',
  usage: 'report [OPTIONS] IMAGE',
  minArgs: 2,
  maxArgs: 2,
  flags: [
    { name: 'output', short: 'o', kind: 'string', valueName: 'file', description: 'Write the report to FILE.html (a page with a tree per layer) or FILE.json' },
    { name: 'max-wasted', kind: 'string', valueName: 'size', description: 'Fail (exit 1) when more bytes than this are wasted, as dive counts them (e.g. 20MB, 1MiB)' },
    { name: 'min-efficiency', kind: 'string', valueName: 'ratio', description: 'Fail (exit 1) when the efficiency, as dive computes it, is below this ratio (0 to 1)' },
  ],
};

export async function run(args: ParsedArgs): Promise<number> {
  const [sub, ref] = args.positionals as [string, string];
  if (sub !== 'report') throw usageError('image', `unknown subcommand "${sub}" (available: report)`);
  const name = parseImageArgument(ref);
  const wastedText = args.strings.get('max-wasted');
  const efficiencyText = args.strings.get('min-efficiency');
  const thresholds = {
    ...(wastedText !== undefined ? { maxWasted: parseSize(wastedText, '--max-wasted') } : {}),
    ...(efficiencyText !== undefined ? { minEfficiency: parseRatio(efficiencyText, '--min-efficiency') } : {}),
  };
  const file = args.strings.get('output');
  const format = file === undefined ? undefined : reportFile.reportFormat(file, '-o');
  const path = file === undefined ? undefined : reportFile.checkReportPath(file, '-o');
  const store = await openStore();
  const record = await store.requireImage(name);
  const report = await analyzeImage(store, record);
  report.rules = checkRules(report, thresholds);
  if (path !== undefined && format !== undefined) await reportFile.writeReport(path, format, 'imagePage', `kiln image report: ${report.image.tags[0] ?? report.image.id}`, report);
  process.stdout.write(summary(report));
  return report.rules.some((r) => r.result === 'fail') ? 1 : 0;
}

function summary(r: ImageReport): string {
  const lines = [
    `image: ${r.image.tags[0] ?? r.image.id} (${r.layers.length} layers, ${r.files} files)`,
    `  efficiency: ${(r.efficiency * 100).toFixed(4)} %`,
    `  wastedBytes: ${r.wastedBytes} bytes (${humanSize(r.wastedBytes)})`,
    `  userWastedPercent: ${(r.wastedUserPercent * 100).toFixed(4)} %`,
  ];
  const shown = r.inefficiencies.filter((i) => i.bytes > 0).slice(0, 10);
  if (shown.length > 0) {
    lines.push('Inefficient files:', '  Count  Wasted Space  File Path');
    for (const i of shown) lines.push(`  ${String(i.layers.length).padStart(5)}  ${humanSize(i.bytes).padStart(12)}  ${i.path}`);
  }
  if (r.rules.length > 0) {
    lines.push('Results:');
    for (const rule of r.rules) lines.push(`  ${rule.result.toUpperCase()}: ${rule.rule}: ${rule.message}`);
    const failed = r.rules.filter((x) => x.result === 'fail').length;
    lines.push(`Result: ${failed > 0 ? 'FAIL' : 'PASS'} [Total:${r.rules.length}] [Passed:${r.rules.length - failed}] [Failed:${failed}]`);
  }
  return `${lines.join('\n')}\n`;
}
