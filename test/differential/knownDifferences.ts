/**
 * Recipes where kiln still differs from the expected result, each with the reason it is kept.
 * The suite checks they still differ: an entry whose recipe now agrees fails until it is removed.
 */
export const knownDifferences: Record<string, string> = {
  'link-chown-names': 'kiln resolves COPY --link --chown names in the image\'s /etc/passwd; BuildKit v0.24 fails ("invalid user index: -1"), as a --link copy has no image to read them from',
  'copy-chown-unknown-user': 'kiln refuses --chown naming a user or group the image does not have (a located error); BuildKit silently makes the files root\'s, a wrong owner nobody asked for',
};
