/**
 * Writes a report where the user asked: `.json` is the report object itself; `.html` is one
 * self-contained page — its script (the page code and the graph layout library, built into
 * dist/bundle/report-pages by `npm run build`) and styles inline, the report as JSON in the
 * page, and a content policy that lets the page load and send nothing. The page files are read
 * here, only when a report is written, so nothing of them weighs on a build without --report.
 * Written atomically: a report is whole or absent.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KilnError } from '../errors/kilnError.js';
import { writeFileAtomic } from '../store/atomicFile.js';

export type ReportFormat = 'html' | 'json';
export type ReportPage = 'buildPage' | 'imagePage';

/** The format a report file's name asks for; a clear error for any other name. */
export function reportFormat(file: string, flag: string): ReportFormat {
  const ext = extname(file).toLowerCase();
  if (ext === '.html' || ext === '.htm') return 'html';
  if (ext === '.json') return 'json';
  throw new KilnError('USAGE', `${flag} ${file}: the file name must end in .html or .json (the report's format)`, { exitCode: 2 });
}

/** Refuses a report path whose directory is missing before any work is done for it. */
export function checkReportPath(file: string, flag: string): string {
  const path = resolve(file);
  const dir = dirname(path);
  let isDir = false;
  try { isDir = statSync(dir).isDirectory(); } catch { /* missing */ }
  if (!isDir) throw new KilnError('USAGE', `${flag} ${file}: directory ${dir} does not exist`, { exitCode: 2 });
  return path;
}

export async function writeReport(file: string, format: ReportFormat, page: ReportPage, title: string, report: unknown): Promise<void> {
  const json = JSON.stringify(report);
  const body = format === 'json' ? `${json}\n` : htmlPage(page, title, json);
  try {
    await writeFileAtomic(file, body);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (typeof err.code !== 'string') throw e;
    throw new KilnError('REPORT_WRITE', `${file}: cannot write the report: ${err.message}`, { cause: e });
  }
}

/** Where `npm run build` put the page scripts: beside the CLI bundle, or under dist/ for the compiled modules. */
function pagesDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'report-pages'), join(here, '..', '..', 'bundle', 'report-pages')];
  const found = candidates.find((d) => existsSync(join(d, 'report.css')));
  if (!found) throw new Error(`the report pages are not built (looked in ${candidates.join(', ')}): run npm run build`);
  return found;
}

/** Script or style text that cannot end the element it sits in. */
function inElement(text: string, tag: 'script' | 'style'): string {
  return text.replace(new RegExp(`</(${tag})`, 'gi'), '<\\/$1').replace(/<!--/g, '<\\!--');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
}

export function htmlPage(page: ReportPage, title: string, json: string): string {
  const dir = pagesDir();
  const css = readFileSync(join(dir, 'report.css'), 'utf8');
  const script = readFileSync(join(dir, `${page}.js`), 'utf8');
  // JSON may hold U+2028/2029 and "<": escaped, it parses the same and cannot break out.
  const data = json.replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // Nothing leaves or enters the page: no fetch, no images from elsewhere, no fonts.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">`,
    `<title>${escapeHtml(title)}</title>`,
    `<style>${inElement(css, 'style')}</style>`,
    '</head>',
    '<body>',
    '<div id="app"><p class="loading">Loading the report…</p></div>',
    `<script type="application/json" id="kiln-report">${data}</script>`,
    `<script>${inElement(script, 'script')}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
