import type { CommandSpec, ParsedArgs } from './args.js';
import { openStore } from './openStore.js';
import { normalizeTag } from '../image/reference.js';

export const spec: CommandSpec = {
  name: 'tag',
  usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  minArgs: 2,
  maxArgs: 2,
  flags: [],
};

export async function run(args: ParsedArgs): Promise<number> {
  const [source, target] = args.positionals as [string, string];
  const name = normalizeTag(target); // a bad target is refused before anything is looked up
  const store = await openStore();
  const image = await store.requireImage(source);
  await store.tag(image.id, name);
  return 0;
}
