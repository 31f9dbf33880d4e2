import { HOST_HELP, runHostCli } from '../../../src/host/cli';

const context = { env: {}, selfExecutable: '', stderr: () => undefined };

describe('runHostCli', () => {
  it('prints its help on stdout', async () => {
    expect(await runHostCli(['--help'], context)).toEqual({ exitCode: 0, stdout: HOST_HELP });
  });

  it('wants a command', async () => {
    expect(await runHostCli([], { ...context, selfExecutable: '/x' })).toMatchObject({ exitCode: 2, stderr: HOST_HELP });
  });

  it('wants a plugin executable', async () => {
    expect(await runHostCli(['describe'], context)).toMatchObject({ exitCode: 2, stderr: expect.stringMatching(/--plugin/) });
  });

  it('reports a plugin that cannot start', async () => {
    const result = await runHostCli(['--plugin', '/nonexistent/plugin', 'describe'], context);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^host: /);
  });
});
