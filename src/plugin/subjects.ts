/**
 * Which statement subjects may get referrers. Subject names come from
 * attestation content, which anyone who can push an attestation controls, so
 * only images on the configured registry's own host qualify: nothing, and no
 * credential, is ever sent to another host.
 */
import { parseRepository, type Repository } from '../oci';
import type { Statement } from './statement';

export const MAX_SUBJECTS = 16;
const IMAGE_TYPE = 'CONTAINER_IMAGE';
const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

export interface ImageSubject {
  /** The image's repository, on the configured registry (same scheme and API host). */
  repository: Repository;
  /** `sha256:<64 hex>` */
  digest: string;
}

export interface SubjectSelection {
  eligible: ImageSubject[];
  /** Subject names left out, with why (for a warn log; names are attestation content, logged quoted). */
  skipped: Array<{ name: string; reason: string }>;
}

export function selectImageSubjects(statement: Statement | undefined, registry: Repository): SubjectSelection {
  const out: SubjectSelection = { eligible: [], skipped: [] };
  const seen = new Set<string>();
  for (const subject of statement?.subjects ?? []) {
    if (subject.annotations['chainloop.material.type'] !== IMAGE_TYPE) continue;
    const hex = subject.digest.sha256;
    if (typeof hex !== 'string' || !/^[0-9a-f]{64}$/.test(hex)) {
      out.skipped.push({ name: subject.name, reason: 'no sha256 digest' });
      continue;
    }
    const parsed = splitImageName(subject.name);
    if (!parsed) {
      out.skipped.push({ name: subject.name, reason: 'not an image name' });
      continue;
    }
    if (hostKey(parsed.host) !== hostKey(registry.registry)) {
      out.skipped.push({ name: subject.name, reason: 'foreign host' });
      continue;
    }
    let repository: Repository;
    try {
      repository = parseRepository(`${registry.registry}/${parsed.path}`);
    } catch {
      out.skipped.push({ name: subject.name, reason: 'not an image name' });
      continue;
    }
    const key = `${repository.toString()}@${hex}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (out.eligible.length >= MAX_SUBJECTS) {
      out.skipped.push({ name: subject.name, reason: `more than ${MAX_SUBJECTS} image subjects` });
      continue;
    }
    out.eligible.push({ repository, digest: `sha256:${hex}` });
  }
  return out;
}

/** `host[:port]/path[:tag][@digest]` → host and path; Docker Hub's one-component names get `library/`. */
export function splitImageName(name: string): { host: string; path: string } | undefined {
  if (name.startsWith('oci-layout://') || name.includes('://')) return undefined;
  let rest = name.split('@')[0] ?? '';
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const host = rest.slice(0, slash).toLowerCase();
  rest = rest.slice(slash + 1);
  const colon = rest.lastIndexOf(':');
  if (colon >= 0 && !rest.slice(colon).includes('/')) rest = rest.slice(0, colon);
  if (rest === '' || !/^[a-z0-9._/-]+$/.test(rest)) return undefined;
  if (DOCKER_HUB.has(host) && !rest.includes('/')) rest = `library/${rest}`;
  return { host, path: rest };
}

/** Docker Hub's aliases are one host; everything else compares exactly (port included). */
function hostKey(host: string): string {
  const h = host.toLowerCase();
  return DOCKER_HUB.has(h) ? 'docker.io' : h;
}
