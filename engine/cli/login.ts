import { KilnError } from '../errors/kilnError.js';
import type { CommandSpec, ParsedArgs } from './args.js';
import { usageError } from './args.js';
import { INSECURE_REGISTRY_FLAG, insecureRegistries } from './registryFlags.js';
import { storeCredentials } from '../registry/dockerConfig.js';
import { verifyCredentials } from '../registry/login.js';
import { normaliseRegistryHost } from '../registry/registryHost.js';

export const spec: CommandSpec = {
  name: 'login',
  usage: '[OPTIONS] [SERVER]',
  maxArgs: 1,
  flags: [
    { name: 'username', short: 'u', kind: 'string', description: 'Username' },
    { name: 'password', short: 'p', kind: 'string', description: 'Password' },
    { name: 'password-stdin', kind: 'bool', description: 'Take the password from stdin' },
    INSECURE_REGISTRY_FLAG,
  ],
};

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export async function run(args: ParsedArgs): Promise<number> {
  const server = args.positionals[0] ?? 'docker.io';
  const username = args.strings.get('username');
  let password = args.strings.get('password');
  if (args.bools.has('password-stdin')) {
    if (password !== undefined) throw usageError('login', '--password and --password-stdin are mutually exclusive');
    if (username === undefined) throw usageError('login', 'Must provide --username with --password-stdin');
    password = await readStdin();
  } else if (password !== undefined) {
    process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  }
  if (username === undefined || username === '') throw usageError('login', 'a username is required (-u USER)');
  if (password === undefined || password === '') {
    throw new KilnError('USAGE', 'a password is required: pass -p PASSWORD or --password-stdin (kiln does not prompt)', { exitCode: 2 });
  }
  const host = normaliseRegistryHost(server);
  const key = await verifyCredentials(host, { username, password }, { insecureRegistries: insecureRegistries(args) });
  const file = await storeCredentials(key, { username, password });
  process.stdout.write(`WARNING! Your password will be stored unencrypted in ${file}.\nLogin Succeeded\n`);
  return 0;
}
