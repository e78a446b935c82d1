import type { CommandSpec, ParsedArgs } from './args.js';
import { openStore } from './openStore.js';
import { renderTemplate } from './goTemplate.js';
import { KilnError } from '../errors/kilnError.js';
import { familiarTag } from '../image/reference.js';
import type { ContainerConfig } from '../image/config.js';
import type { ImageRecord, Store } from '../store/store.js';
import { containerRecords } from './containerTargets.js';
import { inspectContainer } from './containerInspect.js';
import { writeStderr, writeStdout } from '../host/standardStreams.js';

export const spec: CommandSpec = {
  name: 'inspect',
  usage: '[OPTIONS] NAME|ID [NAME|ID...]',
  minArgs: 1,
  flags: [
    { name: 'format', short: 'f', kind: 'string', description: 'Format output using a Go template ({{.Id}}, {{json .Config}}, {{index .Config.Labels "k"}})', valueName: 'string' },
    { name: 'type', kind: 'string', description: 'Return JSON for specified type: container or image', valueName: 'string' },
  ],
};

/** docker fills every container-config field, with null/""/false where the image has none. */
function dockerConfig(c: ContainerConfig | undefined): Record<string, unknown> {
  const defaults: Record<string, unknown> = {
    Hostname: '', Domainname: '', User: '', AttachStdin: false, AttachStdout: false, AttachStderr: false,
    ExposedPorts: undefined, Tty: false, OpenStdin: false, StdinOnce: false, Env: null, Cmd: null, Healthcheck: undefined,
    ArgsEscaped: undefined, Image: '', Volumes: null, WorkingDir: '', Entrypoint: null, OnBuild: null, Labels: null,
    StopSignal: undefined, StopTimeout: undefined, Shell: undefined,
  };
  const out: Record<string, unknown> = {};
  for (const [k, d] of Object.entries(defaults)) {
    const v = (c as Record<string, unknown> | undefined)?.[k];
    if (v !== undefined) out[k] = v;
    else if (d !== undefined) out[k] = d;
  }
  for (const [k, v] of Object.entries(c ?? {})) if (!(k in out) && v !== undefined) out[k] = v;
  return out;
}

export async function inspectImage(store: Store, image: ImageRecord): Promise<Record<string, unknown>> {
  const cfg = image.config;
  const out: Record<string, unknown> = {
    Id: image.id,
    RepoTags: image.tags.map(familiarTag),
    RepoDigests: image.repoDigests.map((d) => d.replace(/^docker\.io\/library\/(?=[^/]+@)/, '').replace(/^docker\.io\//, '')),
    Parent: '',
    Comment: (cfg.comment as string | undefined) ?? '',
    Created: cfg.created ?? '',
    DockerVersion: (cfg.docker_version as string | undefined) ?? '',
    Author: cfg.author ?? '',
    Config: dockerConfig(cfg.config),
    Architecture: cfg.architecture,
  };
  if (cfg.variant !== undefined) out.Variant = cfg.variant;
  out.Os = cfg.os;
  if (cfg['os.version'] !== undefined) out.OsVersion = cfg['os.version'];
  out.Size = await store.imageSize(image);
  out.RootFS = { Type: 'layers', Layers: cfg.rootfs.diff_ids };
  out.Metadata = { LastTagTime: '0001-01-01T00:00:00Z' };
  return out;
}

/** docker's JSON: 4-space indent, and <, >, & escaped as Go's encoder does. */
function dockerJson(v: unknown): string {
  return JSON.stringify(v, null, 4).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
}

export async function run(args: ParsedArgs): Promise<number> {
  const type = args.strings.get('type');
  if (type !== undefined && type !== 'image' && type !== 'container') throw new KilnError('USAGE', `"${type}" is not a valid value for --type`, { exitCode: 2 });
  const store = await openStore();
  const found: Record<string, unknown>[] = [];
  const missing: string[] = [];
  // As docker: a name is looked up as a container first, then as an image.
  const containers = type === 'image' ? undefined : await containerRecords();
  for (const name of args.positionals) {
    const container = await containers?.find(name).catch(() => undefined);
    if (containers && container) { found.push(inspectContainer(containers, container)); continue; }
    const image = type === 'container' ? undefined : await store.resolveImage(name);
    if (image) found.push(await inspectImage(store, image));
    else missing.push(name);
  }
  const format = args.strings.get('format');
  if (format !== undefined) for (const f of found) writeStdout(`${renderTemplate(format, f)}\n`);
  else writeStdout(`${dockerJson(found)}\n`);
  for (const m of missing) writeStderr(`Error: No such object: ${m}\n`);
  return missing.length > 0 ? 1 : 0;
}
