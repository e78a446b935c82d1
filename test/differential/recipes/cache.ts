/**
 * Cache correctness against BuildKit: each recipe follows a primer (the same recipe with one
 * input of a step's meaning flipped) built just before it into the same cache. A step key that
 * leaves that input out reuses the primer's result, and the image differs from BuildKit's; an
 * input BuildKit leaves out on purpose (a secret's content) must be reused as BuildKit reuses it.
 * {NONCE} in a RUN keeps the step new to every run, so only the primer can have cached it.
 */
import type { Recipe } from '../recipe.js';
import { lines } from './lines.js';

export const cacheRecipes: Recipe[] = [
  {
    name: 'cache-escape-directive',
    checks: 'the same ENV line under another # escape character is another step (no reuse of the default escape\'s result)',
    source: 'issue 17 kind 9',
    dockerfile: lines('# escape=`', 'FROM {BASE}', 'ENV X=a\\b', 'RUN echo {NONCE} >/dev/null; echo "$X" > /x'),
    primer: { dockerfile: lines('FROM {BASE}', 'ENV X=a\\b', 'RUN echo {NONCE} >/dev/null; echo "$X" > /x') },
  },
  {
    name: 'cache-shell-changes-run',
    checks: 'SHELL before a RUN is part of its key: the same RUN line under another shell runs again',
    source: 'issue 17 kind 9',
    dockerfile: lines('FROM {BASE}', 'SHELL ["/bin/sh", "-c", "echo \\"$0\\" > /shell"]', 'RUN echo {NONCE}'),
    primer: { dockerfile: lines('FROM {BASE}', 'RUN echo {NONCE}') },
  },
  {
    name: 'cache-dockerignore-change',
    checks: 'a .dockerignore added between two builds changes what COPY . copies',
    source: 'issue 17 kind 9',
    dockerfile: lines('FROM {BASE}', 'COPY . /ctx/'),
    files: { 'a.txt': 'a', 'b.log': 'b', '.dockerignore': '*.log\n' },
    primer: { files: { 'a.txt': 'a', 'b.log': 'b' } },
  },
  {
    name: 'cache-chmod-from-arg',
    checks: '--chmod as resolved: the same COPY line with another build arg value behind --chmod=$M',
    source: 'issue 17 kind 9',
    dockerfile: lines('FROM {BASE}', 'ARG M=0600', 'COPY --chmod=$M f /f'),
    files: { f: 'x' },
    buildArgs: { M: '0640' },
    primer: { buildArgs: {} },
    oracle: 'buildkit-0.24',
    note: 'docker 20.10 does not expand ARGs in --chmod',
  },
  {
    name: 'cache-chown-resolved',
    checks: '--chown as resolved: the same COPY --chown=app line where /etc/passwd gives app another uid',
    source: 'issue 17 kind 9',
    dockerfile: lines('FROM {BASE}', 'COPY passwd group /etc/', 'COPY --chown=app:app f /f'),
    files: { f: 'x', passwd: 'root:x:0:0:root:/root:/bin/sh\napp:x:2000:2000::/home/app:/bin/sh\n', group: 'root:x:0:\napp:x:2000:\n' },
    // Other sizes than the recipe's files: buildctl's context sync takes a file of the same name,
    // size and mtime as unchanged, and the fixture would hold the primer's files.
    primer: { files: { f: 'x', passwd: 'root:x:0:0:root:/root:/bin/sh\napp:x:100:100::/home/app:/bin/sh\n', group: 'root:x:0:\napp:x:100:\n' } },
    oracle: 'buildkit-0.24',
    note: 'docker 20.10 leaves --chown out of the COPY history line',
  },
  {
    name: 'cache-secret-id',
    checks: 'a secret mount\'s id (from a build arg) is part of the key: another id reads another secret',
    source: 'issue 17 kind 9',
    dockerfile: lines('FROM {BASE}', 'ARG ID=a', 'RUN --mount=type=secret,id=$ID,target=/s echo {NONCE} >/dev/null; cat /s > /used'),
    secrets: { a: 'one', b: 'two' },
    buildArgs: { ID: 'b' },
    primer: { buildArgs: {} },
    oracle: 'buildkit-0.24',
    note: 'docker 20.10 leaves /run/secrets-style mount points in the layer',
  },
  {
    name: 'cache-secret-content',
    checks: 'a secret\'s content is never part of the key: a new value alone reuses the step, as BuildKit does',
    source: 'issue 17 kind 9',
    dockerfile: lines('FROM {BASE}', 'RUN --mount=type=secret,id=s,target=/s echo {NONCE} >/dev/null; cat /s > /used'),
    secrets: { s: 'two' },
    primer: { secrets: { s: 'one' } },
    oracle: 'buildkit-0.24',
    note: 'docker 20.10 leaves mount points in the layer',
  },
  {
    name: 'cache-mount-source-arg',
    checks: 'a bind mount\'s options as resolved: the same RUN --mount line with another build arg behind source=',
    source: 'issue 17 kind 9',
    dockerfile: lines('FROM {BASE}', 'ARG SRC=d1', 'RUN --mount=type=bind,source=$SRC,target=/m echo {NONCE} >/dev/null; cat /m/f > /out'),
    files: { 'd1/f': 'one', 'd2/f': 'two' },
    buildArgs: { SRC: 'd2' },
    primer: { buildArgs: {} },
    oracle: 'buildkit-0.24',
    note: 'docker 20.10 leaves mount points in the layer',
  },
  {
    name: 'cache-network-mode',
    checks: 'RUN --network is part of the key: the same command without a network sees only lo',
    source: 'issue 17 kind 9',
    dockerfile: lines('FROM {BASE}', 'RUN --network=none echo {NONCE} >/dev/null; cat /proc/net/dev | sed 1,2d | cut -d: -f1 | tr -d " " > /net'),
    primer: { dockerfile: lines('FROM {BASE}', 'RUN echo {NONCE} >/dev/null; cat /proc/net/dev | sed 1,2d | cut -d: -f1 | tr -d " " > /net') },
    oracle: 'buildkit-0.24',
    note: 'docker 20.10 has no RUN --network',
  },
];
