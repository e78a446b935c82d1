#!/bin/sh
# Builds an image holding kiln itself (default tag kiln-ci:local), with kiln: a Debian 12 base
# made with mmdebstrap (which fetches Debian's packages), the node binary that runs this script,
# and this built checkout — the bundled CLI, the native addon and kiln-init, package.json and undici (the one
# dependency the bundle leaves outside). That image can be a CI job's image (see the job files
# beside this script). Run from a built checkout (npm ci && npm run build), as root:
#   sh examples/ci/make-image.sh [TAG]
# then, for docker: kiln save TAG | docker load
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tag=${1:-kiln-ci:local}
kiln="$repo/bin/kiln"
[ -f "$repo/native/build/Release/kiln_native.node" ] && [ -f "$repo/dist/bundle/kiln.cjs" ] || {
  echo "make-image.sh: build the checkout first (npm ci && npm run build)" >&2; exit 1; }
command -v mmdebstrap >/dev/null 2>&1 || { echo "make-image.sh: needs mmdebstrap (apt-get install mmdebstrap)" >&2; exit 1; }
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

# The base: minbase is Debian's essential set plus apt; attr gives kiln setfattr/getfattr,
# ca-certificates lets it reach registries over TLS, git lets a CI job read its commit, proot
# gives RUN steps their root when the job runs as a uid with no user namespace.
mmdebstrap --quiet --variant=minbase --include=attr,ca-certificates,git,proot bookworm "$ctx/debian.tar"

cp "$(command -v node)" "$ctx/node"
mkdir -p "$ctx/kiln/native/build/Release" "$ctx/kiln/dist" "$ctx/kiln/node_modules"
cp -a "$repo/bin" "$repo/package.json" "$ctx/kiln/"
cp -a "$repo/dist/bundle" "$ctx/kiln/dist/"
# The addon and kiln-init (the init `kiln run --init` binds into a container), built together.
cp "$repo/native/build/Release/kiln_native.node" "$repo/native/build/Release/kiln-init" "$ctx/kiln/native/build/Release/"
cp -a "$repo/node_modules/undici" "$ctx/kiln/node_modules/"
# A fresh code cache is made by the image's first runs, not carried over from this machine.
rm -f "$ctx"/kiln/dist/bundle/*.cache
cp "$here/Dockerfile" "$ctx/Dockerfile"
"$kiln" build -t "$tag" "$ctx"
