/** Today's layout (the original plugin's): `<repository>/<prefix>-<sha256 of the envelope>:latest`. */
import { childRepository, type Repository } from '../../oci';
import type { AttestationArtifact } from '../artifact';

export const PER_ATTESTATION_TAG = 'latest';

export interface ArtifactTarget {
  repository: Repository;
  tag: string;
}

export function perAttestationTarget(repository: Repository, prefix: string, artifact: Pick<AttestationArtifact, 'envelopeHex'>): ArtifactTarget {
  return { repository: childRepository(repository, `${prefix}-${artifact.envelopeHex}`), tag: PER_ATTESTATION_TAG };
}
