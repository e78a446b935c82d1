/** ADD: local archives unpacked (by content, not name), archives through symlinks, remote files. */
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import type { Recipe } from '../recipe.js';
import { tarBytes, type TarEntry } from '../tarBytes.js';
import { lines } from './lines.js';

const simple: TarEntry[] = [{ name: 'foo', content: 'content0\n' }];

function bzip2(data: Buffer): Buffer {
  return execFileSync('bzip2', ['-c'], { input: data });
}

function xz(data: Buffer): Buffer {
  return execFileSync('xz', ['-c', '--format=xz'], { input: data });
}

export const addRecipes: Recipe[] = [
  {
    name: 'add-tar',
    checks: 'ADD of a plain tar unpacks it at the destination',
    source: 'bk:dockerfile_add_test.go testDockerfileAddArchive',
    dockerfile: lines('FROM {BASE}', 'ADD t.tar /'),
    files: { 't.tar': { content: tarBytes(simple), mode: 0o600 } },
  },
  {
    name: 'add-tar-gz',
    checks: 'ADD of a gzip tar unpacks it',
    source: 'bk:dockerfile_add_test.go testDockerfileAddArchive',
    dockerfile: lines('FROM {BASE}', 'ADD t.tar.gz /'),
    files: { 't.tar.gz': { content: gzipSync(tarBytes(simple)), mode: 0o600 } },
  },
  {
    name: 'add-tar-bz2-xz-by-content',
    checks: 'bzip2 and xz archives unpack, recognised by content whatever their names',
    source: 'own',
    dockerfile: lines('FROM {BASE}', 'ADD b.bin /bz/', 'ADD x.data /xz/'),
    files: {
      'b.bin': { content: bzip2(tarBytes([{ name: 'b/one', content: 'bz\n' }])) },
      'x.data': { content: xz(tarBytes([{ name: 'x/one', content: 'xz\n' }])) },
    },
  },
  {
    name: 'copy-tar-not-unpacked',
    checks: 'COPY of an archive copies it as a file',
    source: 'bk:dockerfile_add_test.go testDockerfileAddArchive',
    dockerfile: lines('FROM {BASE}', 'COPY t.tar.gz /'),
    files: { 't.tar.gz': { content: gzipSync(tarBytes(simple)), mode: 0o600 } },
  },
  {
    name: 'add-not-an-archive',
    checks: 'ADD of a file named like an archive that is not one copies it',
    source: 'own',
    dockerfile: lines('FROM {BASE}', 'ADD fake.tar.gz /opt/'),
    files: { 'fake.tar.gz': 'just text\n' },
  },
  {
    name: 'add-archive-implied-parent',
    checks: 'an archive whose entries imply parent directories it does not list',
    source: 'bk:dockerfile_add_test.go testDockerfileAddArchiveWithImpliedParentDir',
    dockerfile: lines('FROM {BASE}', 'ADD t.tar.gz /'),
    files: { 't.tar.gz': { content: gzipSync(tarBytes([{ name: 'x/y/z/foo', content: 'content0\n' }, { name: 'x/bar', content: 'bar\n' }])) } },
  },
  {
    name: 'add-archive-through-absolute-symlink',
    checks: 'an archive unpacked through an absolute symlink the image has (var/run -> /run) follows it inside the root',
    source: 'bk:dockerfile_add_test.go testDockerfileAddArchiveThroughAbsoluteSymlink',
    dockerfile: lines('FROM scratch', 'ADD rootfs.tar /', 'ADD payload.tar /'),
    files: {
      'rootfs.tar': { content: tarBytes([{ name: 'run/', type: 'dir' }, { name: 'var/', type: 'dir' }, { name: 'var/run', type: 'symlink', link: '/run' }]) },
      'payload.tar': { content: tarBytes([{ name: 'var/run/foo', content: 'payload\n' }]) },
    },
  },
  {
    name: 'add-archive-symlink-dest',
    checks: 'COPY into a directory symlink an archive made',
    source: 'bk:dockerfile_core_test.go testSymlinkDestination',
    dockerfile: lines('FROM scratch', 'ADD t.tar /', 'COPY foo /symlink/'),
    files: {
      foo: 'symlinked\n',
      't.tar': { content: tarBytes([{ name: 'tmp/', type: 'dir' }, { name: 'symlink', type: 'symlink', link: 'tmp' }]) },
    },
  },
  {
    name: 'add-chown-archive',
    checks: 'ADD --chown of an archive: who owns the unpacked files',
    source: 'bk:dockerfile_add_test.go testDockerfileAddChownArchive',
    dockerfile: lines('FROM scratch', 'ADD --chown=100:200 t.tar /out/'),
    files: { 't.tar': { content: tarBytes([{ name: 'sub/', type: 'dir', uid: 5, gid: 6 }, { name: 'sub/foo', content: 'content0', uid: 5, gid: 6 }]) } },
    oracle: 'buildkit-0.24',
    note: "docker 20.10 keeps the archive's owners under ADD --chown and leaves --chown out of history",
  },
  {
    name: 'add-archive-wildcard',
    checks: 'ADD with a wildcard matching two archives unpacks both',
    source: 'bk:dockerfile_add_test.go testDockerfileAddArchiveWildcard',
    dockerfile: lines('FROM scratch', 'ADD *.tar /dest'),
    files: { 't.tar': { content: tarBytes([{ name: 'foo', content: 'content0' }]) }, 'b.tar': { content: tarBytes([{ name: 'bar', content: 'content1' }]) } },
  },
  {
    name: 'add-archive-attributes',
    checks: 'an archive\'s modes, owners, symlinks, hardlinks, setuid bits and xattrs are kept when unpacked',
    source: 'own',
    dockerfile: lines('FROM {BASE}', 'ADD a.tar /opt/'),
    files: {
      'a.tar': {
        content: tarBytes([
          { name: 'app/', type: 'dir', mode: 0o750, uid: 1000, gid: 1000 },
          { name: 'app/bin', content: 'bin\n', mode: 0o4755 },
          { name: 'app/data', content: 'data\n', mode: 0o600, uid: 33, gid: 44, xattrs: { 'user.kind': 'data' } },
          { name: 'app/alias', type: 'hardlink', link: 'app/data' },
          { name: 'app/current', type: 'symlink', link: 'bin' },
        ]),
      },
    },
  },
  {
    name: 'add-archive-over-existing-dir',
    checks: 'an archive that lists an existing directory of the image with other attributes changes them',
    source: 'own',
    dockerfile: lines('FROM {BASE}', 'ADD a.tar /'),
    files: { 'a.tar': { content: tarBytes([{ name: 'etc/', type: 'dir', mode: 0o700, uid: 7, gid: 7 }, { name: 'etc/new.conf', content: 'n\n' }]) } },
  },
  {
    name: 'add-archive-to-missing-dir',
    checks: 'an archive unpacked into a destination that does not exist yet',
    source: 'own',
    dockerfile: lines('FROM {BASE}', 'ADD a.tar.gz /srv/new/'),
    files: { 'a.tar.gz': { content: gzipSync(tarBytes([{ name: 'x', content: 'x\n' }, { name: 'd/', type: 'dir', mode: 0o700 }])) } },
  },
  {
    name: 'add-file-plain',
    checks: 'ADD of a plain file behaves as COPY (mode, owner, history)',
    source: 'own',
    dockerfile: lines('FROM {BASE}', 'ADD plain.txt /p/'),
    files: { 'plain.txt': { content: 'p\n', mode: 0o640 } },
  },
  {
    name: 'add-wildcard-many-to-no-slash',
    checks: 'ADD of one wildcard source matching several files to a destination without a trailing /: no error, the last one stays (the rule counts source arguments)',
    source: 'issue 17 kind 5',
    dockerfile: lines('FROM {BASE}', 'ADD *.txt /dest', 'RUN mkdir /made', 'ADD *.txt /made'),
    files: { 'a.txt': 'a\n', 'b.txt': 'b\n' },
  },
  {
    name: 'add-two-sources-no-slash',
    checks: 'ADD of two source arguments (a file and an archive) to a destination without a trailing /: the file becomes /dest, and unpacking into it fails (mkdir: not a directory)',
    source: 'issue 17 kind 5',
    dockerfile: lines('FROM {BASE}', 'ADD a.txt x.tar /dest'),
    files: { 'a.txt': 'a\n', 'x.tar': { content: tarBytes([{ name: 'in-archive', content: 'i\n' }]) } },
    fails: true,
  },
  {
    name: 'add-url-to-dir',
    checks: 'ADD of a URL into a directory: named after the URL path, mode 0600',
    source: 'bk:dockerfile_add_test.go testDockerfileADDFromURL',
    dockerfile: lines('FROM {BASE}', 'ADD {URL}/hello.txt /dest/'),
  },
  {
    name: 'add-url-to-file',
    checks: 'ADD of a URL to a file name; a remote archive is not unpacked',
    source: 'bk:dockerfile_add_test.go testDockerfileAddArchive',
    dockerfile: lines('FROM {BASE}', 'ADD {URL}/dir/named.conf /etc/named.conf', 'ADD {URL}/remote.tar.gz /newname.tar.gz'),
  },
  {
    name: 'add-url-chmod',
    checks: 'ADD of a URL with --chmod',
    source: 'bk:dockerfile_add_test.go testAddURLChmod',
    dockerfile: lines('FROM {BASE}', 'ADD --chmod=644 {URL}/hello.txt /tmp/foo1', 'ADD --chmod=755 {URL}/hello.txt /tmp/foo2', 'ADD --chmod=0413 {URL}/hello.txt /tmp/foo3'),
    oracle: 'buildkit-0.24',
    note: 'docker 20.10 ignores --chmod on a URL (0600) and leaves it out of history',
  },
  {
    name: 'add-url-into-existing-dir',
    checks: 'ADD of a URL to an existing directory without a trailing / puts the file inside it',
    source: 'own',
    dockerfile: lines('FROM {BASE}', 'ADD {URL}/hello.txt /tmp', 'ADD {URL}/dir/named.conf /etc/named'),
  },
  {
    name: 'add-url-chown',
    checks: 'ADD of a URL with --chown by name',
    source: 'own',
    dockerfile: lines('FROM {BASE}', 'ADD --chown=app:staff {URL}/hello.txt /home/app/'),
    oracle: 'buildkit-0.24',
    note: 'docker 20.10 leaves --chown out of history',
  },
  {
    name: 'add-chown-expand',
    checks: 'ADD --chown with ENV and ARG expansion',
    source: 'bk:dockerfile_add_test.go testDockerfileAddChownExpand',
    dockerfile: lines('FROM {BASE}', 'ARG group', 'ENV owner 1000', 'ADD --chown=${owner}:${group} foo /'),
    buildArgs: { group: 'nogroup' },
    files: { foo: 'foo-contents' },
    oracle: 'buildkit-0.24',
    note: 'docker 20.10 leaves --chown out of history and prints ARG without its value',
  },
  {
    name: 'add-invalid-chmod',
    checks: 'an invalid ADD --chmod is refused',
    source: 'bk:dockerfile_add_test.go testAddInvalidChmod',
    dockerfile: lines('FROM scratch', 'ADD --chmod=64a foo /'),
    files: { foo: 'foo-contents' },
    fails: true,
    oracle: 'buildkit-0.24',
    note: 'docker 20.10 accepts --chmod=64a',
  },
];
