/** Recipes on `FROM scratch`: the empty image's config defaults, and what each instruction adds to it. */
import type { Recipe } from '../recipe.js';
import { lines } from './lines.js';

export const scratchRecipes: Recipe[] = [
  {
    name: 'scratch-env',
    checks: 'FROM scratch config defaults (WorkingDir, PATH) plus one ENV; no layer, one empty_layer history entry',
    source: 'bk:dockerfile_image_test.go testDockerfileScratchConfig',
    dockerfile: lines('FROM scratch', 'ENV foo=bar'),
  },
  {
    name: 'scratch-label',
    checks: 'LABEL on an empty image: Labels, defaults kept',
    source: 'bk:dockerfile_core_test.go testLabels',
    dockerfile: lines('FROM scratch', 'LABEL foo=bar'),
  },
  {
    name: 'scratch-copy',
    checks: 'COPY of one context file onto an empty image: file mode and owner root, config defaults',
    source: 'bk:dockerfile_core_test.go testNoSnapshotLeak',
    dockerfile: lines('FROM scratch', 'COPY foo /'),
    files: { foo: 'contents' },
  },
  {
    name: 'scratch-entrypoint-shell-form',
    checks: 'ENTRYPOINT in shell form wraps in the default shell; the default PATH is in Env',
    source: 'bk:dockerfile_cmd_test.go testDefaultShellAndPath',
    dockerfile: lines('FROM scratch', 'ENTRYPOINT foo bar', 'COPY Dockerfile .'),
  },
  {
    name: 'scratch-shell-entrypoint',
    checks: 'SHELL changes how a later shell-form ENTRYPOINT is wrapped; Shell in the config',
    source: 'bk:dockerfile_cmd_test.go testCmdShell',
    dockerfile: lines('FROM scratch', 'SHELL ["ls"]', 'ENTRYPOINT my entrypoint'),
  },
  {
    name: 'scratch-cmd-exec',
    checks: 'CMD exec form on an empty image',
    source: 'bk:dockerfile_cmd_test.go testCmdShell',
    dockerfile: lines('FROM scratch', 'CMD ["test"]'),
  },
  {
    name: 'scratch-workdir',
    checks: 'WORKDIR creates the directory (0755 root) even on scratch; WORKDIR / after it',
    source: 'bk:dockerfile_workdir_test.go testWorkdirCreatesDir',
    dockerfile: lines('FROM scratch', 'WORKDIR /foo', 'WORKDIR /'),
  },
  {
    name: 'scratch-workdir-relative',
    checks: 'a relative WORKDIR on scratch resolves against the default "/", nested WORKDIRs chain',
    source: 'own',
    dockerfile: lines('FROM scratch', 'WORKDIR a', 'WORKDIR b/c', 'COPY f ./'),
    files: { f: 'f\n' },
  },
  {
    name: 'scratch-expose-arg',
    checks: 'EXPOSE with an ARG holding several ports; tcp by default, udp kept',
    source: 'bk:dockerfile_core_test.go testExposeExpansion',
    dockerfile: lines('FROM scratch', 'ARG PORTS="3000 4000/udp"', 'EXPOSE $PORTS', 'EXPOSE 5000'),
  },
  {
    name: 'scratch-user',
    checks: 'USER on an empty image (no /etc/passwd needed for a metadata instruction)',
    source: 'own',
    dockerfile: lines('FROM scratch', 'USER nobody:nogroup'),
  },
  {
    name: 'scratch-volume-stopsignal',
    checks: 'VOLUME and STOPSIGNAL on an empty image',
    source: 'own',
    dockerfile: lines('FROM scratch', 'VOLUME /data /logs', 'STOPSIGNAL SIGINT'),
  },
  {
    name: 'scratch-env-path-override',
    checks: 'an ENV PATH replaces the default PATH of an empty image in place',
    source: 'own',
    dockerfile: lines('FROM scratch', 'ENV A=1', 'ENV PATH=/opt/bin:$PATH', 'ENV B=$PATH'),
  },
  {
    name: 'scratch-copy-dir-tree',
    checks: 'COPY of a context tree onto scratch: directory modes from the context, files root-owned',
    source: 'own',
    dockerfile: lines('FROM scratch', 'COPY tree /tree/'),
    files: { 'tree/a/b.txt': 'b\n', 'tree/a': { dir: true, mode: 0o700 }, 'tree/x.sh': { content: '#!/bin/sh\n', mode: 0o750 } },
  },
];
