/**
 * Free loopback ports for fixtures whose binaries need a port number up front
 * (distribution takes `http.addr` from its config file, so it cannot be told
 * to bind port 0 and report back).
 *
 * There is an unavoidable window between closing our probe socket and the
 * child binding the port; callers that spawn processes should retry on
 * "address already in use" rather than assume the port is still free.
 */
import { createServer } from 'node:net';

export const LOOPBACK = '127.0.0.1';

/** Binds 127.0.0.1:0, reads the port the kernel picked, releases it. */
export function freePort(host: string = LOOPBACK): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    // exclusive: a cluster primary must not hand us a shared handle.
    srv.listen({ host, port: 0, exclusive: true }, () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('could not read the bound port'));
        return;
      }
      const { port } = addr;
      srv.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}
