/** A loopback port for a server a test starts itself (PostgreSQL, haproxy) where port 0 cannot be passed on. */
import { createServer } from 'node:net';

/** A free TCP port on 127.0.0.1 (listened on and released again; another process may take it before the caller). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
