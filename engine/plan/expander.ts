/**
 * How planning and steps substitute variables: the grammar's shell-word expansion, handed
 * in so planning stays testable on its own.
 */
export type Lookup = (name: string) => string | undefined;

export interface WordExpander {
  /** One word, quotes removed (BuildKit ProcessWord). */
  word(text: string, lookup: Lookup): string;
  /** Words split after expansion (BuildKit ProcessWords). */
  words(text: string, lookup: Lookup): string[];
  /** A COPY/ADD heredoc body: `$` expanded, quotes kept literally. */
  raw(text: string, lookup: Lookup): string;
}
