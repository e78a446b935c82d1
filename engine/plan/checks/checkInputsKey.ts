/**
 * A text that changes whenever the inputs of the build checks change (build arguments, target,
 * platforms, the stages checked, their bases' ENV/SHELL/platform, the ignore patterns): with the
 * Dockerfile's text it names a remembered check report, so a rebuild with the same inputs reads
 * the report instead of checking again.
 */
import type { CheckInputs } from './checkRecipe.js';

export function checkInputsKey(inputs: CheckInputs): string {
  return JSON.stringify({
    ...inputs,
    buildArgs: [...inputs.buildArgs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    bases: inputs.bases === undefined ? null : [...inputs.bases],
  });
}
