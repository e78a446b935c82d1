/** `kiln tag SOURCE TARGET`: gives an image in the store another name, as docker tag does. */
import type { CommandSpec, ParsedArgs } from './args.js';
import { openStore } from './openStore.js';
import { parseTagReference } from '../image/reference.js';
import { parseImageArgument } from '../image/imageArgument.js';

export const spec: CommandSpec = {
  name: 'tag',
  usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  minArgs: 2,
  maxArgs: 2,
  flags: [],
};

export async function run(args: ParsedArgs): Promise<number> {
  const [sourceText, targetText] = args.positionals as [string, string];
  // Both names are parsed before anything is looked up: a bad one is refused in one line.
  const source = parseImageArgument(sourceText);
  const name = parseTagReference(targetText);
  const store = await openStore();
  const image = await store.requireImage(source);
  await store.tag(image.id, name);
  return 0;
}
