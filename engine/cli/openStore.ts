/** The store a CLI verb works on: --root (global flag, passed as KILN_ROOT) or the default. */
import { Store } from '../store/store.js';

export function openStore(): Promise<Store> {
  return Store.open();
}
