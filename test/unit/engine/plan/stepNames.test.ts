/**
 * Step names as BuildKit v0.24 gives them (engine/plan/stepNames.ts): which instructions are
 * steps, the stage label (none for a single stage, unless a mount or COPY --from adds one to
 * BuildKit's list), the padded `k/n`, and the text with the stage's variables substituted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerfile } from '../../../../grammar/parser.js';
import { toRecipe } from '../../../../grammar/instructions.js';
import type { Recipe, StageInstruction } from '../../../../grammar/recipe.js';
import { planStages } from '../../../../engine/plan/graph.js';
import { shellExpander } from '../../../../engine/plan/shellExpander.js';
import { instructionText } from '../../../../engine/plan/stepNames.js';
import { isListed, stageLabels, stepPrefix, stepText, stepTotal } from '../../../../engine/plan/stepNames.js';

const recipe = (text: string): Recipe => toRecipe(parseDockerfile(text));
const labels = (text: string): string[] => {
  const r = recipe(text);
  return stageLabels(r, planStages(r, { globals: new Map(), namedContexts: new Set(), expander: shellExpander('\\'), dockerfileName: 'Dockerfile' }));
};
const only = (text: string): StageInstruction => recipe(`FROM scratch\n${text}\n`).stages[0]?.instructions[0] as StageInstruction;
const env = (vars: Record<string, string>) => (n: string): string | undefined => vars[n];

test('RUN, COPY, ADD and WORKDIR are steps; metadata instructions are not', () => {
  const kinds = recipe('FROM scratch\nRUN a\nCOPY a b\nADD a b\nWORKDIR /w\nENV A=1\nLABEL a=b\nCMD ["x"]\nARG X\nUSER u\nEXPOSE 1\nVOLUME /v\nSHELL ["sh"]\nSTOPSIGNAL 9\nHEALTHCHECK NONE\nONBUILD RUN x\n').stages[0]?.instructions ?? [];
  assert.deepEqual(kinds.filter(isListed).map((i) => i.kind), ['RUN', 'COPY', 'ADD', 'WORKDIR']);
  assert.equal(stepTotal(true, kinds, 2), 1 + 4 + 2);
});

test('stage labels: name, stage-N, none for a single stage unless a mount or COPY --from of an image adds a stage', () => {
  assert.deepEqual(labels('FROM scratch AS base\nRUN x\nFROM base\nRUN y\n'), ['base', 'stage-1']);
  assert.deepEqual(labels('FROM scratch AS base\nRUN x\n'), ['']);
  assert.deepEqual(labels('FROM scratch\nRUN --mount=type=cache,target=/c x\n'), ['stage-0']);
  assert.deepEqual(labels('FROM scratch\nCOPY --from=busybox /bin/sh /sh\n'), ['stage-0']);
  assert.deepEqual(labels('FROM scratch\nCOPY --from=0 /a /b\n'), ['']);
});

test('k/n is padded to the width of n', () => {
  assert.equal(stepPrefix('', 3, 9), '[3/9] ');
  assert.equal(stepPrefix('build', 3, 12), '[build  3/12] ');
  assert.equal(stepPrefix('stage-0', 100, 100), '[stage-0 100/100] ');
});

test('step text: variables of the stage substituted; RUN keeps quotes and unset variables, COPY does not', () => {
  const run = only('run echo "$A" \'$A\' $NONE');
  assert.equal(stepText(instructionText(run), run, env({ A: '1' }), '\\'), 'RUN echo "1" \'$A\' $NONE');
  const copy = only('COPY --chown=$U "a b" $NONE/');
  assert.equal(stepText(instructionText(copy), copy, env({ U: 'app' }), '\\'), 'COPY --chown=app a b /');
  const secret = only('RUN --mount=type=secret,id=t,env=TOKEN echo $TOKEN');
  assert.equal(stepText(instructionText(secret), secret, env({ TOKEN: 'x' }), '\\', ['TOKEN']), 'RUN --mount=type=secret,id=t,env=TOKEN echo ****');
});

test('a RUN heredoc script is summarised by its first line', () => {
  const r = recipe('FROM scratch\nRUN <<EOF\necho one\necho two\nEOF\n').stages[0]?.instructions[0] as StageInstruction;
  assert.equal(stepText(instructionText(r), r, env({}), '\\'), 'RUN <<EOF (echo one...)');
  const piped = recipe('FROM scratch\nRUN cat <<EOF\nx\nEOF\n').stages[0]?.instructions[0] as StageInstruction;
  assert.equal(stepText(instructionText(piped), piped, env({}), '\\'), 'RUN cat <<EOF');
});
