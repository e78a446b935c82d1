/**
 * What a builder made of a recipe, in the form the suite compares and the fixtures keep:
 * failed (with its message), or the image judged against the base with placeholders put back.
 * Fixtures are the outcomes BuildKit v0.24 gave, for recipes docker 20.10 is too old for.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../support/env.js';
import type { Judged } from './compare.js';

export type Outcome = { fails: true; error: string } | { fails: false; image: Judged };

export interface Fixture {
  recordedWith: string;
  outcome: Outcome;
}

export const fixturesDir = join(repoRoot, 'test', 'differential', 'fixtures');

export function fixturePath(name: string): string {
  return join(fixturesDir, `${name}.json`);
}

export function readFixture(name: string): Fixture | undefined {
  const p = fixturePath(name);
  return existsSync(p) ? JSON.parse(readFileSync(p, 'utf8')) as Fixture : undefined;
}

export function writeFixture(name: string, fixture: Fixture): void {
  writeFileSync(fixturePath(name), JSON.stringify(fixture, null, 1) + '\n');
}
