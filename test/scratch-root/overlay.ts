/**
 * What the scratch-root suite reads of the README and of the overlay tarball:
 * the suite builds its root the way the README's Dockerfile builds the image.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../helpers/plugin-process';

export interface ReadmeDockerfile {
  from: string;
  /** The file the Dockerfile ADDs at `/`, a name in dist/. */
  tarball: string;
}

/** The first ```dockerfile block of the README: FROM Chainloop's image, ADD the amd64 overlay at /. */
export function readmeDockerfile(): ReadmeDockerfile {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const block = /```dockerfile\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README.md has no ```dockerfile block');
  const from = /^FROM (\S+)$/m.exec(block)?.[1];
  const tarball = /^ADD (\S+\.tar\.gz) \/$/m.exec(block)?.[1];
  if (!from || !tarball) throw new Error(`README.md's Dockerfile is not "FROM <image>" + "ADD <tarball> /":\n${block}`);
  const { version } = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  const expected = `chainloop-plugin-oci-registry-${version}-linux-amd64.tar.gz`;
  if (tarball !== expected) throw new Error(`README.md's Dockerfile adds ${tarball}; make dist writes ${expected}`);
  return { from, tarball };
}

/** Entry names of a tarball, directories with a trailing slash. */
export function overlayEntries(tarball: string): string[] {
  return execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8', maxBuffer: 1 << 24 }).split('\n').filter(Boolean);
}
