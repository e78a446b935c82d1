import { formatHelp, parseArgs } from './args.js';
import { VERBS } from './verbs.js';
import { reportError } from './report.js';
import { closestMatch } from '../../grammar/suggest.js';
import { privilege } from '../host/privilege.js';
import { refusalAtTop, refusalCause } from '../errors/refusal.js';
import { defaultStoreRoot } from '../store/storeRoot.js';
import { verbNamespaces } from '../lateLoading.js';
import { writeStderr, writeStdout } from '../host/standardStreams.js';
import { rememberLaunch } from './launch.js';
import { splitGlobalOptions } from './globalOptions.js';

const VERSION = '0.1.0';

function mainHelp(): string {
  // Verbs are lowercase ASCII: a plain comparison, not localeCompare, whose first call loads ICU's collator (~10 ms).
  const shown = Object.entries(VERBS).filter(([, c]) => !c.hidden).sort(([a], [b]) => (a < b ? -1 : 1));
  const width = Math.max(...shown.map(([name]) => name.length));
  const rows = shown.map(([name, c]) => `  ${name.padEnd(width)}   ${c.summary}`);
  return [
    'Usage:  kiln [OPTIONS] COMMAND',
    '',
    'Build container images from Dockerfile recipes, save them as archives docker and podman load, and run them.',
    '',
    'Commands:',
    ...rows,
    '',
    'Options:',
    '      --root DIR  Image store location (default: $KILN_ROOT, /var/lib/kiln as root, else $XDG_DATA_HOME/kiln)',
    '  -h, --help      Print usage',
    '  -v, --version   Print version information',
    '',
    "Run 'kiln COMMAND --help' for more information on a command.",
    '',
  ].join('\n');
}

/** Global options before the verb: `--root DIR` picks the store (passed on as KILN_ROOT). */
function takeGlobalOptions(argv: readonly string[]): readonly string[] {
  const { root, rest } = splitGlobalOptions(argv);
  if (root !== undefined) process.env.KILN_ROOT = root;
  return rest;
}

export async function main(argvWithGlobals: readonly string[]): Promise<number> {
  const argv = takeGlobalOptions(argvWithGlobals);
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
    if (verb === 'help' && rest[0] !== undefined) return main([rest[0], '--help']);
    writeStdout(mainHelp());
    return verb === undefined ? 2 : 0;
  }
  if (verb === '--version' || verb === '-v' || verb === 'version') {
    writeStdout(`kiln version ${VERSION}\n`);
    return 0;
  }
  const entry = VERBS[verb];
  if (!entry) {
    const hint = closestMatch(verb, Object.keys(VERBS).filter((c) => !VERBS[c]?.hidden));
    const what = verb.startsWith('-') ? `unknown flag: ${verb}` : `unknown command: "${verb}"${hint ? ` (did you mean "${hint}"?)` : ''}`;
    writeStderr(`kiln: ${what}\nSee 'kiln --help'.\n`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    const beforeStop = command.spec.stopAtFirstPositional ? rest.findIndex((w) => !w.startsWith('-')) : -1;
    const helpAt = rest.findIndex((w) => w === '--help' || w === '-h');
    if (beforeStop < 0 || helpAt < beforeStop) {
      writeStdout(formatHelp(command.spec, entry.summary));
      return 0;
    }
  }
  const args = parseArgs(command.spec, rest);
  if (command.spec.ownMountNamespace) {
    if (privilege() === 'host-root') await (await verbNamespaces()).enterOwnMountNamespace();
  }
  if (command.spec.ownUserNamespace) {
    // The isolation (namespaces, rootless: re-run in kiln's own user namespace, chroot): see isolationChoice.ts.
    const code = await (await verbNamespaces()).enterIsolation(verb, command.spec, args);
    if (code !== undefined) return code;
  }
  return command.run(args);
}

export function runCli(argv: readonly string[]): Promise<void> {
  rememberLaunch(argv);
  return runToExitCode(() => main(argv));
}

/**
 * What the kernel refused, named by cause (no space, read-only, permission, a missing path):
 * an error that reached the top unnamed becomes one line with its exit code (see refusal.ts).
 */
async function named(err: unknown): Promise<unknown> {
  if (refusalCause(err) === undefined) return err;
  return refusalAtTop(err, defaultStoreRoot());
}

/** Runs a command and sets the process's exit code from what it returns or throws. */
export async function runToExitCode(command: () => Promise<number>): Promise<void> {
  // A command whose work stops waiting on nothing (a bug) lets Node exit on an empty event
  // loop: say so and fail, rather than exit 0 with the work undone.
  let settled = false;
  const unfinished = (code: number): void => {
    if (settled || code !== 0) return; // a deliberate process.exit(N) (a second Ctrl-C) stands
    process.stderr.write('kiln: internal error (this is a bug in kiln, please report it): the command stopped before it finished\n');
    process.exitCode = 70;
  };
  process.once('exit', unfinished);
  // A promise that failed with nobody waiting on it fails the command as any error would, with
  // one message and its exit code (not Node's crash dump); after the command is done it is a bug.
  let failed = false;
  const stray = (err: unknown): void => {
    if (failed) return; // the command already failed and said why: this is the same failure's echo
    void named(err).then((e) => {
      failed = true;
      process.exit(settled ? reportError(new Error(`a promise failed after the command finished: ${(e as Error)?.stack ?? String(e)}`)) : reportError(e));
    });
  };
  process.on('unhandledRejection', stray);
  try {
    process.exitCode = await command();
  } catch (err) {
    failed = true;
    process.exitCode = reportError(await named(err));
  } finally {
    settled = true;
    process.off('exit', unfinished);
    // Once the work behind the command is done too (the event loop is empty): exit now, the 'exit'
    // listeners run as ever, without freeing the heap page by page first (5-10 ms of a command's end).
    process.once('beforeExit', () => process.exit());
  }
}


