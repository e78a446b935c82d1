import { ShellWordExpander } from '../../grammar/expand.js';
import type { WordExpander } from './expander.js';

/** The WordExpander a recipe is built with: BuildKit's shell-word rules for its escape character. */
export function shellExpander(escape: string): WordExpander {
  const word = new ShellWordExpander(escape);
  // Heredoc bodies keep their quotes: only `$` is substituted.
  const raw = new ShellWordExpander(escape, { skipProcessQuotes: true });
  return {
    word: (text, lookup) => word.processWord(text, lookup),
    words: (text, lookup) => word.processWords(text, lookup),
    raw: (text, lookup) => raw.processWord(text, lookup),
  };
}
