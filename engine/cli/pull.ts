/** `kiln pull NAME[:TAG|@DIGEST]`: an image from its registry into the store, with docker pull's output. */
import type { CommandSpec, ParsedArgs } from './args.js';
import { INSECURE_REGISTRY_FLAG, insecureRegistries } from './registryFlags.js';
import { openStore } from './openStore.js';
import { pullImageDetailed } from '../registry/pull.js';
import { familiarReference, parseReference, withDefaultTag } from '../image/reference.js';
import { TransferDisplay } from './transferDisplay.js';

export const spec: CommandSpec = {
  name: 'pull',
  usage: '[OPTIONS] NAME[:TAG|@DIGEST]',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { name: 'platform', kind: 'string', valueName: 'os/arch[/variant]', description: "Platform to pull from a multi-platform image (default: this machine's)" },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Suppress verbose output' },
    INSECURE_REGISTRY_FLAG,
  ],
};

export async function run(args: ParsedArgs): Promise<number> {
  const given = parseReference(args.positionals[0] as string, { defaultTag: false });
  const ref = withDefaultTag(given);
  const quiet = args.bools.has('quiet');
  const out = (line: string): void => {
    if (!quiet) process.stdout.write(`${line}\n`);
  };
  if (given.tag === undefined && given.digest === undefined) out('Using default tag: latest');
  out(`${ref.digest ?? ref.tag}: Pulling from ${ref.path}`);
  const store = await openStore();
  const display = quiet ? undefined : new TransferDisplay(process.stdout, { waiting: 'Waiting', exists: 'Already exists', done: 'Pull complete' });
  const result = await pullImageDetailed(store, ref, {
    insecureRegistries: insecureRegistries(args),
    ...(args.strings.has('platform') ? { platform: args.strings.get('platform') as string } : {}),
    onProgress: (e) => display?.event(e),
  });
  display?.close();
  out(`Digest: ${result.digest}`);
  out(`Status: ${result.downloaded > 0 ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarReference(ref)}`);
  process.stdout.write(`${result.reference}\n`);
  return 0;
}
