/**
 * Finding the recipe and its ignore file: `-f FILE` (anywhere), `-f -` (standard input), or
 * `Dockerfile` (then `dockerfile`) in the context. A `<Dockerfile>.dockerignore` beside the
 * recipe replaces the context's `.dockerignore`; the two are never merged.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { KilnError } from '../errors/kilnError.js';
import { EXIT_CODES } from '../errors/refusal.js';
import { ignoreFileProblem, parseIgnoreFile } from './dockerignore.js';

export interface DockerfileSource {
  text: string;
  /** How errors name it: the path as the user would type it, or `Dockerfile` for stdin. */
  displayName: string;
  ignorePatterns: string[];
  /** Bytes of the ignore file read (0 when there is none). */
  ignoreBytes: number;
}

async function isFile(p: string): Promise<boolean> {
  try { return (await stat(p)).isFile(); } catch { return false; }
}

async function isDirectory(p: string): Promise<boolean> {
  try { return (await stat(p)).isDirectory(); } catch { return false; }
}

async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}

export async function loadDockerfile(opts: { contextDir: string; file?: string; stdin?: NodeJS.ReadableStream }): Promise<DockerfileSource> {
  const contextDir = resolve(opts.contextDir);
  let path: string | undefined;
  let text: string;
  let displayName: string;
  if (opts.file === '-') {
    text = await readStdin(opts.stdin ?? process.stdin);
    displayName = 'Dockerfile';
  } else {
    if (opts.file !== undefined) {
      path = resolve(opts.file);
      if (!(await isFile(path))) throw new KilnError('DOCKERFILE_NOT_FOUND', `failed to read dockerfile: open ${opts.file}: no such file or directory`, { exitCode: EXIT_CODES.missingPath });
    } else {
      if (!(await isDirectory(contextDir))) throw new KilnError('PATH_NOT_FOUND', 'build context not found (no such directory)', { location: { file: opts.contextDir }, exitCode: EXIT_CODES.missingPath });
      const upper = join(contextDir, 'Dockerfile');
      const lower = join(contextDir, 'dockerfile');
      path = (await isFile(upper)) ? upper : (await isFile(lower)) ? lower : undefined;
      if (path === undefined) throw new KilnError('DOCKERFILE_NOT_FOUND', `failed to read dockerfile: no Dockerfile in ${opts.contextDir}`, { exitCode: EXIT_CODES.missingPath });
    }
    text = await readFile(path, 'utf8');
    displayName = shownPath(path);
  }
  const specific = path !== undefined ? `${path}.dockerignore` : undefined;
  let ignoreFile: string | undefined;
  if (specific !== undefined && (await isFile(specific))) ignoreFile = specific;
  else if (await isFile(join(contextDir, '.dockerignore'))) ignoreFile = join(contextDir, '.dockerignore');
  const ignoreText = ignoreFile === undefined ? '' : await readFile(ignoreFile, 'utf8');
  const problem = ignoreFileProblem(ignoreText);
  if (problem && ignoreFile !== undefined) {
    throw new KilnError('DOCKERIGNORE', `failed to parse dockerignore: ${problem.message}`, { location: { file: shownPath(ignoreFile), line: problem.line, column: 1 } });
  }
  return { text, displayName: displayName || basename(path ?? 'Dockerfile'), ignorePatterns: parseIgnoreFile(ignoreText), ignoreBytes: Buffer.byteLength(ignoreText) };
}

/** A path as errors show it: relative to the working directory when it is below it. */
function shownPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' || rel.startsWith('..') ? path : rel;
}
