/** What the suite's HTTP server ({URL} in recipes) serves, for ADD from a URL. */
import { gzipSync } from 'node:zlib';
import { tarBytes } from './tarBytes.js';

export const httpFiles: Record<string, Buffer> = {
  '/hello.txt': Buffer.from('hello from the suite server\n'),
  '/dir/named.conf': Buffer.from('key = value\n'),
  '/remote.tar.gz': gzipSync(tarBytes([{ name: 'fromurl/inside.txt', content: 'inside a remote archive\n' }])),
};
