/**
 * The definition part of a step's key: the instruction as written (flags and heredoc bodies
 * included, so the same text means the same step), whether an ONBUILD trigger brought it, the
 * escape character (the same text means something else under another one), SOURCE_DATE_EPOCH
 * (every time a step records depends on it), and the working directory, user and shell the
 * step starts with. An input that changes what a step means, and that the key does not cover
 * yet, is added here (what it reads from outside its stage goes in as `sources`/`inputs`).
 */
import type { Instruction } from '../grammar/ast.js';
import type { JsonValue } from './canonicalJson.js';

export interface StepSetting {
  /** The instruction's kind (RUN, COPY, …) and its text as parsed. */
  kind: string;
  source: Instruction;
  onbuild: boolean;
  escape: string;
  sourceDateEpoch: number | undefined;
  /** The image config's WorkingDir, User and Shell before the step. */
  workdir: string | undefined;
  user: string | undefined;
  shell: readonly string[] | undefined;
}

export function stepDefinition(s: StepSetting): JsonValue {
  return {
    kind: s.kind,
    text: s.source.original,
    flags: s.source.flags,
    heredocs: s.source.heredocs.map((h) => ({ name: h.name, fd: h.fileDescriptor, expand: h.expand, chomp: h.chomp, content: h.content })),
    onbuild: s.onbuild,
    escape: s.escape,
    sourceDateEpoch: s.sourceDateEpoch ?? null,
    workdir: s.workdir ?? '',
    user: s.user ?? '',
    shell: s.shell ? [...s.shell] : null,
  };
}
