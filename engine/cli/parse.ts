import { readFile } from 'node:fs/promises';
import type { CommandSpec, ParsedArgs } from './args.js';
import { usageError } from './args.js';
import { DockerfileError } from './report.js';
import { KilnError } from '../errors/kilnError.js';
import { ParseError } from '../../grammar/parseError.js';
import { parseDockerfile } from '../../grammar/parser.js';
import { dumpDockerfile } from '../../grammar/dump.js';
import { toRecipe } from '../../grammar/instructions.js';

export const spec: CommandSpec = {
  name: 'parse',
  usage: '[OPTIONS] FILE ("-" reads standard input)',
  flags: [
    { name: 'dump', kind: 'bool', description: "Print BuildKit's Node.Dump text (default)" },
    { name: 'json', kind: 'bool', description: "Print kiln's syntax tree as JSON" },
    { name: 'check', kind: 'bool', description: 'Also validate every instruction (flags, arguments, stages) as a build would' },
  ],
  minArgs: 1,
  maxArgs: 1,
};

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function run(args: ParsedArgs): Promise<number> {
  const file = args.positionals[0] as string;
  const asJson = args.bools.has('json');
  if (asJson && args.bools.has('dump')) throw usageError('parse', '--dump and --json cannot be used together');
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new KilnError('NOT_FOUND', `cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`);
  }
  const shown = file === '-' ? '<stdin>' : file;
  try {
    const df = parseDockerfile(text);
    if (args.bools.has('check')) toRecipe(df);
    for (const w of df.warnings) process.stderr.write(`${shown}:${w.range.start.line}: warning: ${w.message}\n`);
    process.stdout.write(asJson ? JSON.stringify(df, null, 2) + '\n' : dumpDockerfile(df));
    return 0;
  } catch (e) {
    if (e instanceof ParseError) throw new DockerfileError(shown, e);
    throw e;
  }
}
