import type { CommandSpec, ParsedArgs } from './args.js';
import { removeCredentials } from '../registry/dockerConfig.js';
import { normaliseRegistryHost } from '../registry/registryHost.js';

export const spec: CommandSpec = {
  name: 'logout',
  usage: '[SERVER]',
  maxArgs: 1,
  flags: [],
};

export async function run(args: ParsedArgs): Promise<number> {
  const host = normaliseRegistryHost(args.positionals[0] ?? 'docker.io');
  if (await removeCredentials(host)) process.stdout.write(`Removing login credentials for ${host}\n`);
  else process.stdout.write(`Not logged in to ${host}\n`);
  return 0;
}
