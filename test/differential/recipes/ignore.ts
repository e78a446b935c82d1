/** .dockerignore: patterns, exceptions, the Dockerfile-specific ignore file, invalid patterns. */
import type { Recipe } from '../recipe.js';
import { lines } from './lines.js';

export const ignoreRecipes: Recipe[] = [
  {
    name: 'ignore-basic',
    checks: 'ignore patterns with an exception and a wildcard',
    source: 'bk:dockerfile_dockerignore_test.go testDockerignore',
    dockerfile: lines('FROM scratch', 'COPY . .'),
    files: { foo: 'foo-contents', bar: 'bar-contents', baz: 'baz-contents', bay: 'bay-contents', '.dockerignore': 'ba*\nDockerfile\n!bay\n.dockerignore\n' },
  },
  {
    name: 'ignore-dir-with-exception',
    checks: 'an ignored directory with a file re-included by !: parents made for it',
    source: 'own',
    dockerfile: lines('FROM {BASE}', 'COPY . /ctx/'),
    files: { 'logs/a.log': 'a', 'logs/keep/b.log': 'b', 'logs/keep': { dir: true, mode: 0o700 }, 'src/x': 'x', '.dockerignore': 'logs\n!logs/keep/b.log\n' },
  },
  {
    name: 'ignore-double-star',
    checks: '**/ patterns at any depth',
    source: 'docs: .dockerignore',
    dockerfile: lines('FROM {BASE}', 'COPY . /ctx/'),
    files: { 'a.tmp': 'a', 'd/b.tmp': 'b', 'd/e/c.tmp': 'c', 'd/keep.txt': 'k', '.dockerignore': '**/*.tmp\n' },
  },
  {
    name: 'ignore-dockerfile-specific',
    checks: 'NAME.dockerignore beside -f NAME is used instead of .dockerignore',
    source: 'bk:dockerfile_dockerignore_test.go testDockerignoreOverride',
    dockerfileName: 'Dockerfile2',
    dockerfile: lines('FROM {BASE}', 'COPY . /ctx/'),
    files: { foo: 'contents0', bar: 'contents0', 'Dockerfile2.dockerignore': 'bar\n', '.dockerignore': 'foo\n' },
  },
  {
    name: 'ignore-wildcard-copy',
    checks: 'a wildcard COPY does not see ignored files',
    source: 'own',
    dockerfile: lines('FROM {BASE}', 'COPY *.txt /t/'),
    files: { 'a.txt': 'a', 'secret.txt': 's', '.dockerignore': 'secret.txt\n' },
  },
  {
    name: 'ignore-comments-and-leading-slash',
    checks: 'comments, blank lines, leading slashes and trailing spaces in .dockerignore',
    source: 'docs: .dockerignore',
    dockerfile: lines('FROM {BASE}', 'COPY . /ctx/'),
    files: { a: 'a', b: 'b', 'c/d': 'd', '.dockerignore': '# comment\n\n/a\nc/d   \n' },
  },
  {
    name: 'ignore-invalid-exclusion',
    checks: 'a lone ! in .dockerignore is refused (kiln: located in .dockerignore)',
    source: 'bk:dockerfile_dockerignore_test.go testDockerignoreInvalid',
    dockerfile: lines('FROM scratch', 'COPY . .'),
    files: { '.dockerignore': '!\n' },
    fails: true,
    errorMatches: /\.dockerignore:1(:\d+)?: /,
  },
];
