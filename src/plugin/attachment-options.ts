/** The attachment options Attach stores and Execute reads back, with their defaults. */
import { PluginInputError } from './errors';

export const DEFAULT_PREFIX = 'chainloop';
export type Layout = 'per-attestation' | 'single';
export type Referrers = 'none' | 'oci' | 'cosign' | 'oci+cosign';
export type ReferrersLocation = 'subject' | 'repository';

export interface AttachmentOptions {
  prefix: string;
  layout: Layout;
  referrers: Referrers;
  referrersLocation: ReferrersLocation;
}

const LAYOUTS: readonly Layout[] = ['per-attestation', 'single'];
const REFERRERS: readonly Referrers[] = ['none', 'oci', 'cosign', 'oci+cosign'];
const LOCATIONS: readonly ReferrersLocation[] = ['subject', 'repository'];

/**
 * Fills in defaults. Input already passed the schema (Attach) or was written
 * by Attach (Execute); a value outside the enums is a stored configuration
 * from something else, reported as such.
 */
export function resolveAttachmentOptions(config: Record<string, unknown>): AttachmentOptions {
  return {
    prefix: pick(config, 'prefix', null, DEFAULT_PREFIX),
    layout: pick(config, 'layout', LAYOUTS, 'per-attestation'),
    referrers: pick(config, 'referrers', REFERRERS, 'none'),
    referrersLocation: pick(config, 'referrersLocation', LOCATIONS, 'subject'),
  };
}

/** What Attach stores: only options that differ from the defaults, so old configurations stay byte-identical. */
export function storedAttachmentOptions(o: AttachmentOptions): Partial<AttachmentOptions> & { prefix: string } {
  return {
    prefix: o.prefix,
    ...(o.layout !== 'per-attestation' ? { layout: o.layout } : {}),
    ...(o.referrers !== 'none' ? { referrers: o.referrers } : {}),
    ...(o.referrersLocation !== 'subject' ? { referrersLocation: o.referrersLocation } : {}),
  };
}

export function wantsOci(o: AttachmentOptions): boolean {
  return o.referrers === 'oci' || o.referrers === 'oci+cosign';
}

export function wantsCosign(o: AttachmentOptions): boolean {
  return o.referrers === 'cosign' || o.referrers === 'oci+cosign';
}

function pick<T extends string>(config: Record<string, unknown>, key: string, allowed: readonly T[] | null, fallback: T): T {
  const v = config[key];
  if (v === undefined) return fallback;
  if (typeof v === 'string' && v !== '' && (allowed === null || (allowed as readonly string[]).includes(v))) return v as T;
  throw new PluginInputError(`the attachment configuration has an invalid '${key}': attach the integration again`);
}
