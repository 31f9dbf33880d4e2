// Unit and integration tests share one transform; the Makefile picks the folder.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  // Integration suites spawn processes and registries; keep them from overlapping on 2 cores.
  testTimeout: 60000,
};
