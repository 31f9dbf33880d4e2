/**
 * Entry point of a token server in its own process (token-server-process.ts
 * starts it): options arrive as the first IPC message, the server's address
 * and every answered request go back the same way.
 */
import { startTokenServer, type TokenServer } from './token-server';
import { fromPortableUsers, type ChildMessage, type ParentMessage } from './token-server-process';

const send = (m: ChildMessage): void => {
  process.send?.(m);
};
let server: TokenServer | undefined;
const closeAndExit = (): void => void (server?.close() ?? Promise.resolve()).finally(() => process.exit(0));

process.on('message', (m: ParentMessage) => {
  if (m.type === 'start') {
    const { users, ...rest } = m.options;
    startTokenServer({ ...rest, users: fromPortableUsers(users), onAnswered: (record) => send({ type: 'answered', record }) }).then(
      (s) => {
        server = s;
        const { realm, url, service, issuer, certPath, certPem } = s;
        send({ type: 'started', info: { realm, url, service, issuer, certPath, certPem } });
      },
      (e: unknown) => send({ type: 'failed', error: String(e) }),
    );
  } else if (m.type === 'close') {
    closeAndExit();
  }
});
// The parent gone means nobody will ask for close: clean up and leave.
process.on('disconnect', closeAndExit);
