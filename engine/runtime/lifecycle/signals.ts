/**
 * Signal names as docker takes them (`--stop-signal`, STOPSIGNAL, `kill -s`): SIGTERM, TERM,
 * 15 — all the same signal, named SIGTERM.
 */
import { constants } from 'node:os';
import { KilnError } from '../../errors/kilnError.js';

const BY_NAME = constants.signals as Record<string, number>;

/** The canonical SIG… name of a signal given by name (with or without SIG) or number. */
export function signalName(text: string): string {
  const t = text.trim().toUpperCase();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    const name = Object.keys(BY_NAME).find((k) => BY_NAME[k] === n);
    if (name === undefined) throw new KilnError('BAD_SIGNAL', `Invalid signal: ${text}`, { exitCode: 125 });
    return name;
  }
  const name = t.startsWith('SIG') ? t : `SIG${t}`;
  if (BY_NAME[name] === undefined) throw new KilnError('BAD_SIGNAL', `Invalid signal: ${text}`, { exitCode: 125 });
  return name;
}

export function signalNumber(name: string): number {
  return BY_NAME[signalName(name)] as number;
}
