/**
 * One repository for every attestation (one package on ghcr.io):
 * `<repository>/<prefix>:<sha256 hex of the envelope>`. The tag is the
 * envelope's hash, so a re-delivery lands on the same tag with the same bytes.
 */
import { childRepository, type Repository } from '../../oci';
import type { AttestationArtifact } from '../artifact';
import type { ArtifactTarget } from './per-attestation';

export function singleRepositoryTarget(repository: Repository, prefix: string, artifact: Pick<AttestationArtifact, 'envelopeHex'>): ArtifactTarget {
  return { repository: childRepository(repository, prefix), tag: artifact.envelopeHex };
}
