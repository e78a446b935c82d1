/**
 * The isolation a verb runs with, settled before it runs (see runtime/isolation.ts): from
 * `--isolation` or KILN_ISOLATION, and what the kernel allows. An unprivileged user's build is
 * re-run in kiln's own user namespace (rootless) when subordinate ids and the kernel allow it;
 * `auto` falls back to chroot isolation when they do not, and says so once.
 */
import type { CommandSpec, ParsedArgs } from './args.js';
import { KilnError } from '../errors/kilnError.js';
import { askIsolation, isKernelRefusal, kernelMessage, kernelRefused, parseIsolation, settleIsolation, type IsolationRequest } from '../runtime/isolation.js';
import { privilege } from '../host/privilege.js';
import { defaultStoreRoot } from '../store/storeRoot.js';
import { rootlessReexecution } from '../lateLoading.js';
import { findProot } from '../runtime/tracedRoot.js';
import { writeStderr } from '../host/standardStreams.js';

/** What chroot isolation is for a uid that may not chroot (see runtime/tracedRoot.ts). */
const TRACED_FALLBACK = 'RUN steps run under proot in a copied root, owners kept beside it, without namespaces or cgroup (see README "Where it runs")';

/**
 * chroot isolation for a uid that may not chroot, settled by auto: said once when proot is there
 * to give it (without, kiln build refuses in one line of its own).
 */
function settleTraced(reason: string): void {
  settleIsolation('chroot', reason, false);
  if (findProot() !== undefined) writeStderr(`kiln: isolation chroot: ${reason}; ${TRACED_FALLBACK}\n`);
}

/** The isolation asked for: the verb's --isolation flag, else KILN_ISOLATION, else auto. */
export function requestedIsolation(args: ParsedArgs): IsolationRequest {
  const flag = args.strings.get('isolation');
  return flag !== undefined ? parseIsolation(flag, '--isolation') : parseIsolation(process.env.KILN_ISOLATION, 'KILN_ISOLATION');
}


/**
 * Settles the isolation of a verb that owns layer files; returns the exit status when the verb
 * ran in kiln's own user namespace (this process only relayed it), else undefined (run it here).
 */
export async function enterIsolation(verb: string, spec: CommandSpec, args: ParsedArgs): Promise<number | undefined> {
  const need = spec.ownUserNamespace;
  if (need === undefined) return undefined;
  const request = need === 'required' ? requestedIsolation(args) : 'auto';
  const who = privilege();
  if (who === 'host-root') {
    if (request === 'rootless') throw new KilnError('USAGE', '--isolation rootless is for an unprivileged user; as root: namespaces or chroot', { exitCode: 2 });
    // auto and namespaces are settled at the first RUN step (a cached build never asks the kernel).
    if (request === 'chroot') settleIsolation('chroot', 'asked for', false);
    else askIsolation(request);
    return undefined;
  }
  if (who === 'namespace-root') {
    settleIsolation(request === 'chroot' ? 'chroot' : 'rootless', 'kiln\'s own user namespace', false);
    return undefined;
  }
  if (request === 'namespaces') throw new KilnError('USAGE', '--isolation namespaces needs root; as an unprivileged user: rootless (with subordinate ids) or chroot', { exitCode: 2 });
  if (request === 'chroot') {
    settleIsolation('chroot', 'asked for', false);
    return undefined;
  }
  const { rerunInOwnUserNamespace, subordinateIds } = await rootlessReexecution();
  const ids = subordinateIds();
  if ('missing' in ids && request === 'auto' && need === 'required') {
    settleTraced(`no user namespace of kiln's own (${ids.missing})`);
    return undefined;
  }
  try {
    // The store is the user's even where uid 0 (inside) would choose /var/lib/kiln.
    return await rerunInOwnUserNamespace(verb, need, defaultStoreRoot(), { KILN_ISOLATION: 'rootless' });
  } catch (e) {
    const refused = isKernelRefusal(e) && !(e instanceof KilnError);
    const unmapped = e instanceof KilnError && e.code === 'ROOTLESS_ID_MAP';
    if (!refused && !unmapped) throw e;
    if (request === 'auto' && need === 'required') {
      settleTraced(`the kernel refused kiln a user namespace (${unmapped ? e.message : kernelMessage(e)})`);
      return undefined;
    }
    if (unmapped) throw e;
    throw kernelRefused('kiln a user namespace of its own', e, need === 'required' ? `kiln ${verb} --isolation chroot works here` : `kiln ${verb} cannot run its containers here`);
  }
}
