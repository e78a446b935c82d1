import type { FlagSpec, ParsedArgs } from './args.js';

/** docker's daemon option, as a flag: hosts that may be reached over plain HTTP. */
export const INSECURE_REGISTRY_FLAG: FlagSpec = {
  name: 'insecure-registry',
  kind: 'list',
  valueName: 'host[:port]',
  description: 'Allow plain HTTP to this registry (loopback hosts always are); repeatable, or comma-separated',
};

export function insecureRegistries(args: ParsedArgs): string[] {
  return (args.lists.get('insecure-registry') ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
}
