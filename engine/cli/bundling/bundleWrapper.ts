/**
 * A bundle is written inside the CommonJS module wrapper, so that bin/kiln compiles the text
 * exactly as it reads it. Wrapping it at every start made a concatenated string that V8 copied
 * again to look up and compile it: the build bundle's 0.65 MB twice more, about 190 fresh pages,
 * and a first touch of a page costs 10-15 µs on these VMs (7 ms of each `kiln build`'s start).
 * bin/kiln holds the same two strings (it runs before any of this code) and wraps a bundle that
 * lacks them, one written by an older build.
 */
export const BUNDLE_HEAD = '(function (exports, require, module, __filename, __dirname) { ';
export const BUNDLE_TAIL = '\n});';

/** A bundle's text as bin/kiln runs it: a function of the CommonJS module's five names. */
export function wrappedBundle(text: string): string {
  return `${BUNDLE_HEAD}${text}${BUNDLE_TAIL}`;
}
