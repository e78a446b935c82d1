import { formatHelp, parseArgs } from './args.js';
import type { CommandModule } from './command.js';
import { reportError } from './report.js';
import { closestMatch } from '../../grammar/suggest.js';

/**
 * The verb table. Each verb's module is imported only when it runs, so `kiln images`
 * never loads the grammar and `kiln parse` never loads the runtime.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  // verb: { summary, load: () => import('./verb.js') }, one module per verb
  parse: { summary: 'Parse a Dockerfile and print its syntax tree', load: () => import('./parse.js') },
  prune: { summary: 'Remove build cache and layers nothing uses', load: () => import('./prune.js') },
  system: { summary: 'Show disk usage of the store (system df)', load: () => import('./system.js') },
};

const VERSION = '0.1.0';

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}   ${c.summary}`);
  return [
    'Usage:  kiln [OPTIONS] COMMAND',
    '',
    'Build container images from Dockerfile recipes, save them as archives docker and podman load, and run them.',
    '',
    'Commands:',
    ...rows,
    '',
    'Options:',
    '  -h, --help      Print usage',
    '  -v, --version   Print version information',
    '',
    "Run 'kiln COMMAND --help' for more information on a command.",
    '',
  ].join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
    if (verb === 'help' && rest[0] !== undefined) return main([rest[0], '--help']);
    process.stdout.write(mainHelp());
    return verb === undefined ? 2 : 0;
  }
  if (verb === '--version' || verb === '-v' || verb === 'version') {
    process.stdout.write(`kiln version ${VERSION}\n`);
    return 0;
  }
  const entry = COMMANDS[verb];
  if (!entry) {
    const hint = closestMatch(verb, Object.keys(COMMANDS));
    const what = verb.startsWith('-') ? `unknown flag: ${verb}` : `unknown command: "${verb}"${hint ? ` (did you mean "${hint}"?)` : ''}`;
    process.stderr.write(`kiln: ${what}\nSee 'kiln --help'.\n`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    const beforeStop = command.spec.stopAtFirstPositional ? rest.findIndex((w) => !w.startsWith('-')) : -1;
    const helpAt = rest.findIndex((w) => w === '--help' || w === '-h');
    if (beforeStop < 0 || helpAt < beforeStop) {
      process.stdout.write(formatHelp(command.spec));
      return 0;
    }
  }
  return command.run(parseArgs(command.spec, rest));
}

export async function runCli(argv: readonly string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (err) {
    process.exitCode = reportError(err);
  }
}


