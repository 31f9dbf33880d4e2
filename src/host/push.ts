/**
 * `host push`: plays Chainloop's control plane end to end against a real
 * registry — launch the plugin, Describe, validate, Register, Attach,
 * Execute — then reads the artifact back through the registry API and says
 * where it is. Used by `make demo` and by operators trying a registration.
 */
import { createHash } from 'node:crypto';
import {
  AttachRequest,
  ExecuteRequest,
  RegisterRequest,
  ValidateAttachmentRequest,
  ValidateRegistrationRequest,
} from '../gen/api/fanout';
import { childRepository, closeSharedDispatcher, parseRepository, RegistryClient } from '../oci';
import { launchPlugin, type LaunchedPlugin } from './client';

export interface HostPushOptions {
  executable: string;
  repository: string;
  username: string;
  password: string;
  envelope: Uint8Array;
  prefix?: string;
  /** Progress lines for a person (stderr). */
  progress: (line: string) => void;
  /** Plugin stderr lines, when the caller wants them. */
  pluginLog?: (line: string) => void;
}

export interface HostPushReport {
  plugin: { id: string; version: string };
  reference: string;
  manifestDigest: string;
  layerDigest: string;
  layerMediaType: string;
  size: number;
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export async function hostPush(o: HostPushOptions): Promise<HostPushReport> {
  const step = (text: string) => o.progress(`  ${text}`);
  let plugin: LaunchedPlugin | undefined;
  try {
    plugin = await launchPlugin({ executable: o.executable, env: {}, stderr: o.pluginLog });
    step(`launched ${o.executable} (pid ${plugin.pid}); handshake over ${plugin.handshake.network} with AutoMTLS`);
    const about = await plugin.fanout.describe({});
    step(`Describe: ${about.id} ${about.version} — ${about.description}`);

    const registration = { repository: o.repository, username: o.username, password: o.password };
    const attachment = o.prefix ? { prefix: o.prefix } : {};
    await plugin.fanout.validateRegistration(ValidateRegistrationRequest.fromPartial({ jsonPayload: json(registration) }));
    await plugin.fanout.validateAttachment(ValidateAttachmentRequest.fromPartial({ jsonPayload: json(attachment) }));
    step('ValidateRegistration, ValidateAttachment: valid');

    const registered = await plugin.fanout.register(RegisterRequest.fromPartial({ payload: json(registration) }));
    step(`Register: push access verified; configuration ${Buffer.from(registered.configuration).toString()}`);
    const attached = await plugin.fanout.attach(
      AttachRequest.fromPartial({ payload: json(attachment), registrationInfo: registered }),
    );
    const { prefix } = JSON.parse(Buffer.from(attached.configuration).toString()) as { prefix: string };
    step(`Attach: configuration ${Buffer.from(attached.configuration).toString()}`);

    const started = Date.now();
    await plugin.fanout.execute(
      ExecuteRequest.fromPartial({ registrationInfo: registered, attachmentInfo: attached, envelope: o.envelope }),
    );
    step(`Execute: attestation delivered in ${Date.now() - started} ms`);
    await plugin.shutdown({ timeoutMs: 5000 });
    plugin = undefined;

    return { plugin: { id: about.id, version: about.version }, ...(await readBack(o, prefix, step)) };
  } finally {
    await plugin?.shutdown({ timeoutMs: 5000 }).catch(() => plugin?.kill());
    await closeSharedDispatcher();
  }
}

/** Fetches the manifest and layer like any OCI client would, and checks the bytes. */
async function readBack(o: HostPushOptions, prefix: string, step: (t: string) => void) {
  const hex = sha256Hex(o.envelope);
  const target = childRepository(parseRepository(o.repository), `${prefix}-${hex}`);
  const client = new RegistryClient({ credentials: { username: o.username, password: o.password } });
  const manifest = await client.getManifest(target, 'latest');
  const parsed = JSON.parse(Buffer.from(manifest.bytes).toString()) as { layers: { digest: string; mediaType: string }[] };
  const layer = parsed.layers[0];
  const bytes = await client.getBlob(target, layer.digest);
  if (!Buffer.from(bytes).equals(Buffer.from(o.envelope))) throw new Error('the layer read back differs from the envelope');
  step(`read back ${target.toString()}:latest — the layer equals the envelope byte for byte`);
  return {
    reference: `${target.toString()}:latest`,
    manifestDigest: manifest.digest,
    layerDigest: layer.digest,
    layerMediaType: layer.mediaType,
    size: bytes.byteLength,
  };
}

/** The summary a person reads at the end, with commands to fetch the artifact. */
export function formatPushReport(r: HostPushReport, plainHttp: boolean): string {
  const tls = plainHttp ? ' --tls-verify=false' : '';
  const insecure = plainHttp ? ' --plain-http' : '';
  const crane = plainHttp ? ' --insecure' : '';
  const [name] = r.reference.split(':latest');
  return [
    '',
    `The attestation is in the registry:`,
    `  reference  ${r.reference}`,
    `  digest     ${name}@${r.manifestDigest}`,
    `  layer      ${r.layerDigest} (${r.layerMediaType}, ${r.size} bytes)`,
    '',
    'Fetch it with any OCI client:',
    `  skopeo inspect --raw${tls} docker://${r.reference}`,
    `  skopeo copy${tls} docker://${r.reference} oci:./attestation:latest`,
    `  oras pull${insecure} ${r.reference}`,
    `  crane manifest${crane} ${r.reference}`,
    '',
  ].join('\n');
}
