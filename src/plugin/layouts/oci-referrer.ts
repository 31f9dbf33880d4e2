/**
 * The OCI 1.1 referrer for one subject image: artifactType in-toto, the empty
 * config, the envelope byte for byte as its one layer, `subject` = the image.
 * A pure function of (envelope, subject descriptor), so a retry PUTs the same
 * bytes and the fallback index deduplicates it by digest.
 */
import { sha256Digest } from '../../oci';
import { ATTESTATION_TITLE, AUTHORS, DSSE_MEDIA_TYPE, OCI_MANIFEST_MEDIA_TYPE, type Descriptor } from '../artifact';
import { PREDICATE_TYPE_ANNOTATION } from '../annotations';

export const IN_TOTO_ARTIFACT_TYPE = 'application/vnd.in-toto+json';
export const EMPTY_CONFIG: Readonly<Descriptor> = Object.freeze({
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
});
export const EMPTY_CONFIG_BYTES = Buffer.from('{}');

export interface BuiltManifest {
  bytes: Uint8Array;
  digest: string;
  mediaType: string;
}

/**
 * `annotations` are the main artifact's workflow annotations; they are copied
 * into each fallback-index entry, so readers can filter without fetching.
 */
export function buildOciReferrer(
  envelope: { digest: string; size: number },
  subject: Descriptor,
  annotations: Record<string, string>,
): BuiltManifest {
  const predicateType = annotations[PREDICATE_TYPE_ANNOTATION];
  const layer: Descriptor = {
    mediaType: DSSE_MEDIA_TYPE,
    digest: envelope.digest,
    size: envelope.size,
    annotations: {
      'org.opencontainers.image.title': ATTESTATION_TITLE,
      ...(predicateType ? { [PREDICATE_TYPE_ANNOTATION]: predicateType } : {}),
    },
  };
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_MEDIA_TYPE,
      artifactType: IN_TOTO_ARTIFACT_TYPE,
      config: EMPTY_CONFIG,
      layers: [layer],
      subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
      annotations: { 'org.opencontainers.image.authors': AUTHORS, ...annotations },
    }),
  );
  return { bytes, digest: sha256Digest(bytes), mediaType: OCI_MANIFEST_MEDIA_TYPE };
}
