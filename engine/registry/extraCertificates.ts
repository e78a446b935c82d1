/**
 * Trust for the certificate authorities a user added with NODE_EXTRA_CA_CERTS. bin/kiln hands
 * that file over as KILN_EXTRA_CA_CERTS, so that node does not parse it at every start (most
 * verbs never open a TLS connection); the code that does connect (registry client, ADD of an
 * https URL) calls trustExtraCertificates() first, and from then on every fetch trusts Node's
 * own roots plus the user's, as it would have with the variable left to node.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { nodeTls } from '../lateLoading.js';

/**
 * undici is left out of the CLI bundle and loaded from node_modules only here, when a user's
 * certificates are to be trusted: every other run neither reads nor compiles its 500 kB.
 */
const loadUndici = (): typeof import('undici') => createRequire(import.meta.url)('undici') as typeof import('undici');

/** Set by bin/kiln to the NODE_EXTRA_CA_CERTS it took out of node's way. */
export const HANDED_OVER_VARIABLE = 'KILN_EXTRA_CA_CERTS';

let settled = false;

export function trustExtraCertificates(env: NodeJS.ProcessEnv = process.env): void {
  if (settled) return;
  settled = true;
  const file = env[HANDED_OVER_VARIABLE];
  if (!file) return;
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (e) {
    // What node itself does with an unreadable file: warn and go on with its own roots.
    process.stderr.write(`kiln: warning: ignoring extra certificates from ${file}: ${(e as Error).message}\n`);
    return;
  }
  // fetch (undici inside node) has no other way to take more roots than a dispatcher of its own.
  const { Agent, setGlobalDispatcher } = loadUndici();
  setGlobalDispatcher(new Agent({ connect: { ca: [...nodeTls().rootCertificates, pem] } }));
}
