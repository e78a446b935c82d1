/** `kiln rmi IMAGE...`: untags and removes images as docker rmi does, keeping those a container still uses. */
import type { CommandSpec, ParsedArgs } from './args.js';
import { openStore } from './openStore.js';
import { reportError } from './report.js';
import { KilnError } from '../errors/kilnError.js';
import { familiarTag, fullReference, withDefaultTag } from '../image/reference.js';
import { parseImageArgument, type ImageArgument } from '../image/imageArgument.js';
import type { ImageRecord, Store } from '../store/store.js';
import { ContainerRecords, isLive } from '../runtime/containerRecords.js';

export const spec: CommandSpec = {
  name: 'rmi',
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  minArgs: 1,
  flags: [
    { name: 'force', short: 'f', kind: 'bool', description: 'Force removal of the image' },
    { name: 'no-prune', kind: 'bool', description: 'Do not delete untagged parents (kiln keeps no parent images; accepted for docker compatibility)' },
  ],
};

/** The tag this argument names when it names one of the image's tags, docker-style. */
function namedTag(arg: ImageArgument, image: ImageRecord): string | undefined {
  if (arg.reference === undefined || arg.reference.digest !== undefined) return undefined;
  const full = fullReference(withDefaultTag(arg.reference));
  return image.tags.includes(full) ? full : undefined;
}

async function removeOne(store: Store, name: ImageArgument, force: boolean): Promise<void> {
  const arg = name.text;
  const image = await store.requireImage(name);
  const short = image.id.slice(7, 19);
  const tag = namedTag(name, image);
  const lastReference = tag === undefined || image.tags.length === 1;
  // Containers keep their image: a running one always, a stopped one unless forced (then the
  // image is only untagged, as docker leaves it dangling for the container). Running means its
  // holder lives: a record a killed supervisor left saying "running" holds it like a stopped one.
  const users = lastReference ? (await new ContainerRecords(store.root).list()).filter((c) => c.imageId === image.id) : [];
  const running = users.find(isLive);
  if (running) {
    throw new KilnError('CONFLICT', `conflict: unable to ${tag !== undefined ? `remove repository reference "${arg}"` : `delete ${short}`} (cannot be forced) - image is being used by running container ${running.id.slice(0, 12)}`, { location: { file: arg } });
  }
  if (users.length > 0 && !force) {
    throw new KilnError('CONFLICT', `conflict: unable to ${tag !== undefined ? `remove repository reference "${arg}"` : `delete ${short}`} (must force) - container ${users[0]!.id.slice(0, 12)} is using its referenced image ${short}`, { location: { file: arg } });
  }
  if (tag !== undefined) {
    await store.untag(tag);
    process.stdout.write(`Untagged: ${familiarTag(tag)}\n`);
    if (image.tags.length > 1) return;
  } else {
    if (image.tags.length > 1 && !force) {
      throw new KilnError('CONFLICT', `conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories`, { location: { file: arg } });
    }
    for (const t of image.tags) {
      await store.untag(t);
      process.stdout.write(`Untagged: ${familiarTag(t)}\n`);
    }
  }
  if (users.length > 0) return;
  for (const d of image.repoDigests) process.stdout.write(`Untagged: ${d.replace(/^docker\.io\/(library\/)?/, '')}\n`);
  await store.removeImage(image.id);
  process.stdout.write(`Deleted: ${image.id}\n`);
}

export async function run(args: ParsedArgs): Promise<number> {
  // Every name is parsed before any image is removed: a typo removes nothing.
  const names = args.positionals.map(parseImageArgument);
  const store = await openStore();
  let status = 0;
  for (const arg of names) {
    try {
      await removeOne(store, arg, args.bools.has('force'));
    } catch (err) {
      if (!(err instanceof KilnError)) throw err;
      status = reportError(err);
    }
  }
  return status;
}
