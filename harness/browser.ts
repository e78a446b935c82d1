/**
 * A real headless browser for tests that look at kiln's report pages as a person would:
 * Debian's chromium driven by puppeteer-core (which downloads no browser), with a fresh
 * profile, no first-run or background traffic, and the network cut before a page loads. The
 * page's console errors and every request it tries are collected for the test to check.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

export const CHROMIUM = '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

export interface OpenedPage {
  page: Page;
  /** Console errors and uncaught exceptions, in order. */
  errors: string[];
  /** URLs the page asked for besides its own file (all refused). */
  requests: string[];
  /** Milliseconds from navigation to the page's load event. */
  loadMs: number;
}

export class TestBrowser {
  private constructor(private readonly browser: Browser, private readonly profile: string) {}

  static async launch(): Promise<TestBrowser> {
    const profile = await mkdtemp(join(tmpdir(), 'kiln-chromium-'));
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`],
    });
    return new TestBrowser(browser, profile);
  }

  /** Opens a local file with the network off; every other request is refused and recorded. */
  async open(file: string, viewport = { width: 1400, height: 900 }): Promise<OpenedPage> {
    const page = await this.browser.newPage();
    await page.setViewport(viewport);
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e instanceof Error ? e.message : String(e)));
    const own = pathToFileURL(file).href;
    await page.setOfflineMode(true);
    await page.setRequestInterception(true);
    page.on('request', (req) => {
      if (req.url() === own) void req.continue();
      else {
        requests.push(req.url());
        void req.abort();
      }
    });
    const started = Date.now();
    await page.goto(own, { waitUntil: 'load' });
    return { page, errors, requests, loadMs: Date.now() - started };
  }

  async close(): Promise<void> {
    await this.browser.close();
    await rm(this.profile, { recursive: true, force: true });
  }
}
