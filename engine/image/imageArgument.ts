/**
 * What names an image on the command line (`kiln run IMAGE`, `kiln tag SOURCE`, `kiln save`,
 * `kiln rmi`), parsed once where the user gave it: the image ID itself (`sha256:…`), a reference
 * to one of its tags or repo digests, or a prefix of its ID (4 to 64 hex digits) — as docker
 * looks an image up. Text that is none of these is refused with the reference's own error
 * before anything is looked up.
 */
import { KilnError } from '../errors/kilnError.js';
import { parseReference, type ImageReference } from './reference.js';

const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;
const ID_PREFIX = /^(?:sha256:)?([0-9a-f]{4,64})$/;

export interface ImageArgument {
  /** As the user gave it, for messages. */
  readonly text: string;
  /** `sha256:<64 hex>`: the image ID; nothing else is looked up. */
  readonly id?: string;
  /** The text as a reference, when it reads as one: as given (a bare name has no tag: `withDefaultTag` where one is meant). */
  readonly reference?: ImageReference;
  /** The hex digits of an ID prefix, when the text reads as one (looked up after the reference). */
  readonly idPrefix?: string;
}

/** Parses an image argument; a KilnError('INVALID_REFERENCE') naming the text when it names no image. */
export function parseImageArgument(text: string): ImageArgument {
  if (IMAGE_ID.test(text)) return { text, id: text };
  const idPrefix = ID_PREFIX.exec(text)?.[1];
  let reference: ImageReference;
  try {
    reference = parseReference(text, { defaultTag: false });
  } catch (err) {
    // 64 hex digits are no name but may be an ID.
    if (idPrefix !== undefined && err instanceof KilnError) return { text, idPrefix };
    throw err;
  }
  return { text, reference, ...(idPrefix !== undefined ? { idPrefix } : {}) };
}

/** The argument when the text names an image, else undefined (where a name may also be a container's). */
export function imageArgumentOrUndefined(text: string): ImageArgument | undefined {
  try {
    return parseImageArgument(text);
  } catch {
    return undefined;
  }
}
