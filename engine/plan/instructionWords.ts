/**
 * The words of a COPY, ADD or RUN --mount after expansion in the step's scope (ENV, then the
 * ARGs declared, whose values come from the build args as given): one reading, for the step
 * that executes them and for whoever works out what the step reads (the cache). `--from` is
 * not expanded (planning refuses a `$` in it, as BuildKit does).
 */
import type { CopyInstruction, MountSpec } from '../../grammar/recipe.js';

/** A COPY/ADD's words after expansion. */
export interface CopyWords {
  sources: string[];
  dest: string;
  chown: string | undefined;
  chmod: string | undefined;
  checksum: string | undefined;
}

export function copyWords(instr: CopyInstruction, word: (text: string) => string): CopyWords {
  return {
    sources: instr.sources.map(word),
    dest: word(instr.dest),
    chown: instr.chown === undefined ? undefined : word(instr.chown),
    chmod: instr.chmod === undefined ? undefined : word(instr.chmod),
    checksum: instr.checksum === undefined ? undefined : word(instr.checksum),
  };
}

/** A RUN --mount's words after expansion: where it goes (not yet resolved against WORKDIR), what it reads, its id. */
export interface MountWords {
  target: string | undefined;
  /** The path read from the context or `from=` (`''` for all of it). */
  source: string;
  id: string | undefined;
}

export function mountWords(mount: MountSpec, word: (text: string) => string): MountWords {
  return {
    target: mount.target === undefined ? undefined : word(mount.target),
    source: mount.source === undefined ? '' : word(mount.source),
    id: mount.id === undefined ? undefined : word(mount.id),
  };
}
