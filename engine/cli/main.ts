// The CLI entry point: the bundle starts here. Keep it tiny; verbs load lazily.
import { runCli } from './dispatch.js';

void runCli(process.argv.slice(2));
