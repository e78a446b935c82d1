/** `kiln push NAME[:TAG]`: an image of the store to the registry its name points at, with docker push's output. */
import type { CommandSpec, ParsedArgs } from './args.js';
import { INSECURE_REGISTRY_FLAG, insecureRegistries } from './registryFlags.js';
import { openStore } from './openStore.js';
import { pushImage } from '../registry/push.js';
import { fullName, parseReference } from '../image/reference.js';
import { TransferDisplay } from './transferDisplay.js';

export const spec: CommandSpec = {
  name: 'push',
  usage: '[OPTIONS] NAME[:TAG]',
  minArgs: 1,
  maxArgs: 1,
  flags: [{ name: 'quiet', short: 'q', kind: 'bool', description: 'Suppress verbose output' }, INSECURE_REGISTRY_FLAG],
};

export async function run(args: ParsedArgs): Promise<number> {
  const text = args.positionals[0] as string;
  const ref = parseReference(text);
  const quiet = args.bools.has('quiet');
  const out = (line: string): void => {
    if (!quiet) process.stdout.write(`${line}\n`);
  };
  const store = await openStore();
  const display = quiet ? undefined : new TransferDisplay(process.stdout, { exists: 'Layer already exists', done: 'Pushed' });
  out(`The push refers to repository [${fullName(ref)}]`);
  const result = await pushImage(store, ref, {
    source: { text, reference: ref },
    insecureRegistries: insecureRegistries(args),
    onProgress: (e) => display?.event(e),
  });
  display?.close();
  out(`${ref.tag ?? ref.digest}: digest: ${result.digest} size: ${result.size}`);
  if (quiet) process.stdout.write(`${fullName(ref)}@${result.digest}\n`);
  return 0;
}
