/**
 * Entry point of a token server in its own process (token-server-process.ts
 * starts it): options arrive as the first IPC message, the server's address
 * and every answered request go back the same way.
 */
import { startTokenServer, type TokenServer, type TokenUser } from './token-server';
import type { ChildMessage, ParentMessage, PortableUsers } from './token-server-process';

function usersFrom(portable: PortableUsers): Record<string, TokenUser> {
  const out: Record<string, TokenUser> = {};
  for (const [name, u] of Object.entries(portable)) {
    out[name] = { password: u.password, actions: u.actions, ...(u.repositories ? { repositories: new RegExp(u.repositories.source, u.repositories.flags) } : {}) };
  }
  return out;
}

const send = (m: ChildMessage): void => {
  process.send?.(m);
};
let server: TokenServer | undefined;

process.on('message', (m: ParentMessage) => {
  if (m.type === 'start') {
    const { users, ...rest } = m.options;
    startTokenServer({ ...rest, users: usersFrom(users), onAnswered: (record) => send({ type: 'answered', record }) }).then(
      (s) => {
        server = s;
        const { realm, url, service, issuer, certPath, certPem } = s;
        send({ type: 'started', info: { realm, url, service, issuer, certPath, certPem } });
      },
      (e: unknown) => send({ type: 'failed', error: String(e) }),
    );
  } else if (m.type === 'close') {
    void (server?.close() ?? Promise.resolve()).finally(() => process.exit(0));
  }
});
// The parent gone means nobody will ask for close: clean up and leave.
process.on('disconnect', () => void (server?.close() ?? Promise.resolve()).finally(() => process.exit(0)));
