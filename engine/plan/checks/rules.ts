/**
 * BuildKit's build checks (its Dockerfile linter rule set, v0.24): each rule's name, one-line
 * description, documentation URL, whether it is experimental (off unless `# check=experimental=`
 * names it), and the message it reports. Names, texts and URLs are BuildKit's, so a warning reads
 * the same in kiln as in `docker build`.
 */
import { goQuote } from '../../../grammar/goText.js';

export interface CheckRule {
  name: string;
  description: string;
  /** Empty for the one rule BuildKit documents nowhere (InvalidBaseImagePlatform). */
  url: string;
  experimental: boolean;
}

const rule = (name: string, description: string, slug: string, experimental = false): CheckRule => ({
  name, description, url: slug === '' ? '' : `https://docs.docker.com/go/dockerfile/rule/${slug}/`, experimental,
});

export const StageNameCasing = rule('StageNameCasing', 'Stage names should be lowercase', 'stage-name-casing');
export const FromAsCasing = rule('FromAsCasing', "The 'as' keyword should match the case of the 'from' keyword", 'from-as-casing');
export const NoEmptyContinuation = rule('NoEmptyContinuation', 'Empty continuation lines will become errors in a future release', 'no-empty-continuation');
export const ConsistentInstructionCasing = rule('ConsistentInstructionCasing', 'All commands within the Dockerfile should use the same casing (either upper or lower)', 'consistent-instruction-casing');
export const DuplicateStageName = rule('DuplicateStageName', 'Stage names should be unique', 'duplicate-stage-name');
export const ReservedStageName = rule('ReservedStageName', 'Reserved words should not be used as stage names', 'reserved-stage-name');
export const JSONArgsRecommended = rule('JSONArgsRecommended', 'JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals', 'json-args-recommended');
export const MaintainerDeprecated = rule('MaintainerDeprecated', 'The MAINTAINER instruction is deprecated, use a label instead to define an image author', 'maintainer-deprecated');
export const UndefinedArgInFrom = rule('UndefinedArgInFrom', 'FROM command must use declared ARGs', 'undefined-arg-in-from');
export const WorkdirRelativePath = rule('WorkdirRelativePath', 'Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes', 'workdir-relative-path');
export const UndefinedVar = rule('UndefinedVar', 'Variables should be defined before their use', 'undefined-var');
export const MultipleInstructionsDisallowed = rule('MultipleInstructionsDisallowed', 'Multiple instructions of the same type should not be used in the same stage', 'multiple-instructions-disallowed');
export const LegacyKeyValueFormat = rule('LegacyKeyValueFormat', 'Legacy key/value format with whitespace separator should not be used', 'legacy-key-value-format');
export const InvalidBaseImagePlatform = rule('InvalidBaseImagePlatform', 'Base image platform does not match expected target platform', '');
export const RedundantTargetPlatform = rule('RedundantTargetPlatform', 'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior', 'redundant-target-platform');
export const SecretsUsedInArgOrEnv = rule('SecretsUsedInArgOrEnv', 'Sensitive data should not be used in the ARG or ENV commands', 'secrets-used-in-arg-or-env');
export const InvalidDefaultArgInFrom = rule('InvalidDefaultArgInFrom', 'Default value for global ARG results in an empty or invalid base image name', 'invalid-default-arg-in-from');
export const FromPlatformFlagConstDisallowed = rule('FromPlatformFlagConstDisallowed', 'FROM --platform flag should not use a constant value', 'from-platform-flag-const-disallowed');
export const CopyIgnoredFile = rule('CopyIgnoredFile', 'Attempting to Copy file that is excluded by .dockerignore', 'copy-ignored-file', true);
export const InvalidDefinitionDescription = rule('InvalidDefinitionDescription', 'Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.', 'invalid-definition-description', true);
export const ExposeProtoCasing = rule('ExposeProtoCasing', 'Protocol in EXPOSE instruction should be lowercase', 'expose-proto-casing');
export const ExposeInvalidFormat = rule('ExposeInvalidFormat', 'IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release', 'expose-invalid-format');

/** Every rule, in BuildKit's order (the README lists them from here). */
export const ALL_RULES: readonly CheckRule[] = [
  StageNameCasing, FromAsCasing, NoEmptyContinuation, ConsistentInstructionCasing, DuplicateStageName, ReservedStageName,
  JSONArgsRecommended, MaintainerDeprecated, UndefinedArgInFrom, WorkdirRelativePath, UndefinedVar,
  MultipleInstructionsDisallowed, LegacyKeyValueFormat, InvalidBaseImagePlatform, RedundantTargetPlatform,
  SecretsUsedInArgOrEnv, InvalidDefaultArgInFrom, FromPlatformFlagConstDisallowed, CopyIgnoredFile,
  InvalidDefinitionDescription, ExposeProtoCasing, ExposeInvalidFormat,
];

/** The messages, worded as BuildKit words them (`%q` is Go's quoting). */
export const messages = {
  stageNameCasing: (name: string) => `Stage name '${name}' should be lowercase`,
  fromAsCasing: (from: string, as: string) => `'${as}' and '${from}' keywords' casing do not match`,
  noEmptyContinuation: () => 'Empty continuation line',
  consistentInstructionCasing: (command: string, casing: 'lowercase' | 'uppercase') => `Command '${command}' should match the case of the command majority (${casing})`,
  duplicateStageName: (name: string) => `Duplicate stage name ${goQuote(name)}, stage names should be unique`,
  reservedStageName: (name: string) => `Stage name should not use the same name as reserved stage ${goQuote(name)}`,
  jsonArgsRecommended: (instruction: string) => `JSON arguments recommended for ${instruction} to prevent unintended behavior related to OS signals`,
  maintainerDeprecated: () => 'Maintainer instruction is deprecated in favor of using label',
  undefinedArgInFrom: (arg: string, suggestion: string | undefined) => `FROM argument '${arg}' is not declared${suggestion ? ` (did you mean ${suggestion}?)` : ''}`,
  workdirRelativePath: (workdir: string) => `Relative workdir ${goQuote(workdir)} can have unexpected results if the base image changes`,
  undefinedVar: (name: string, suggestion: string | undefined) => `Usage of undefined variable '$${name}'${suggestion ? ` (did you mean $${suggestion}?)` : ''}`,
  multipleInstructionsDisallowed: (instruction: string) => `Multiple ${instruction} instructions should not be used in the same stage because only the last one will be used`,
  legacyKeyValueFormat: (instruction: string) => `"${instruction} key=value" should be used instead of legacy "${instruction} key value" format`,
  invalidBaseImagePlatform: (image: string, expected: string, actual: string) => `Base image ${image} was pulled with platform ${goQuote(actual)}, expected ${goQuote(expected)} for current build`,
  redundantTargetPlatform: (written: string) => `Setting platform to predefined ${written} in FROM is redundant as this is the default behavior`,
  secretsUsedInArgOrEnv: (instruction: string, key: string) => `Do not use ARG or ENV instructions for sensitive data (${instruction} ${goQuote(key)})`,
  invalidDefaultArgInFrom: (baseName: string) => `Default value for ARG ${baseName} results in empty or invalid base image name`,
  fromPlatformFlagConstDisallowed: (platform: string) => `FROM --platform flag should not use constant value ${goQuote(platform)}`,
  copyIgnoredFile: (instruction: 'Copy' | 'Add', file: string) => `Attempting to ${instruction} file ${goQuote(file)} that is excluded by .dockerignore`,
  invalidDefinitionDescription: (instruction: string, name: string) => `Comment for ${instruction} should follow the format: \`# ${name} <description>\``,
  exposeProtoCasing: (port: string) => `Defined protocol '${port}' in EXPOSE instruction should be lowercase`,
  exposeInvalidFormat: (port: string) => `EXPOSE instruction should not define an IP address or host-port mapping, found '${port}'`,
};
