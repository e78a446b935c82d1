/**
 * Recipes written as code for tests that drive the build engine directly (no parser): each
 * helper makes one typed instruction with the raw source the cache keys on.
 */
import type { Instruction } from '../../grammar/ast.js';
import type { ArgInstruction, CopyInstruction, FromInstruction, Recipe, RunInstruction, Stage, StageInstruction } from '../../grammar/recipe.js';

let line = 0;

function source(keyword: string, original: string): Instruction {
  line++;
  const range = { start: { line, column: 1 }, end: { line, column: original.length + keyword.length + 2 } };
  return { keyword, name: keyword, flags: [], args: [], json: false, original: ` ${original}`, heredocs: [], comments: [], range };
}

export function from(image: string, stageName?: string): FromInstruction {
  const s = source('FROM', `${image}${stageName ? ` AS ${stageName}` : ''}`);
  return { kind: 'FROM', range: s.range, source: s, image, ...(stageName ? { stageName } : {}) };
}

export function run(text: string): RunInstruction {
  const s = source('RUN', text);
  return { kind: 'RUN', range: s.range, source: s, command: { form: 'shell', text }, heredocs: [], mounts: [] };
}

export function copy(sources: string[], dest: string, fromStage?: string): CopyInstruction {
  const s = source('COPY', `${fromStage ? `--from=${fromStage} ` : ''}${sources.join(' ')} ${dest}`);
  return { kind: 'COPY', range: s.range, source: s, sources, dest, heredocs: [], link: false, parents: false, exclude: [], ...(fromStage ? { from: fromStage } : {}) };
}

export function arg(key: string, value?: string): ArgInstruction {
  const s = source('ARG', value === undefined ? key : `${key}=${value}`);
  return { kind: 'ARG', range: s.range, source: s, args: [{ key, ...(value !== undefined ? { value } : {}) }] };
}

export function stage(index: number, fromInstr: FromInstruction, ...instructions: StageInstruction[]): Stage {
  return { index, from: fromInstr, instructions, ...(fromInstr.stageName ? { name: fromInstr.stageName.toLowerCase() } : {}) };
}

export function recipe(...stages: Stage[]): Recipe {
  return { metaArgs: [], stages, escape: '\\' };
}
