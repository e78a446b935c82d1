/**
 * The verb table: every verb's one-line summary (shown by `kiln --help` and atop `kiln VERB
 * --help`) and how its module is loaded. A verb's module is imported only when it runs, so
 * `kiln images` never loads the grammar and `kiln parse` never loads the runtime.
 */
import type { CommandModule } from './command.js';

export interface Verb {
  summary: string;
  load: () => Promise<CommandModule>;
  /** Started by kiln itself, not by users: left out of the help and of suggestions. */
  hidden?: boolean;
}

export const VERBS: Readonly<Record<string, Verb>> = {
  // verb: { summary, load: () => import('./verb.js') }, one module per verb
  build: { summary: 'Build an image from a Dockerfile', load: () => import('./build.js') },
  check: { summary: 'Verify the store: blobs, images, snapshots and build cache records', load: () => import('./check.js') },
  history: { summary: 'Show the history of an image', load: () => import('./history.js') },
  image: { summary: 'Report what the layers of an image hold (image report)', load: () => import('./image.js') },
  images: { summary: 'List images', load: () => import('./images.js') },
  inspect: { summary: 'Return low-level information on containers and images as a JSON array shaped like docker inspect', load: () => import('./inspect.js') },
  load: { summary: 'Load images from a tar archive or STDIN (docker save and OCI layouts, compressed or not)', load: () => import('./load.js') },
  login: { summary: 'Log in to a registry', load: () => import('./login.js') },
  logout: { summary: 'Log out from a registry', load: () => import('./logout.js') },
  network: { summary: 'Manage networks (create, ls, rm)', load: () => import('./network.js') },
  parse: { summary: 'Parse a Dockerfile and print its syntax tree', load: () => import('./parse.js') },
  port: { summary: 'List port mappings or a specific mapping for the container', load: () => import('./port.js') },
  prune: { summary: 'Remove build cache, and layers and snapshots no image or cache record uses', load: () => import('./prune.js') },
  pull: { summary: 'Download an image from a registry', load: () => import('./pull.js') },
  ps: { summary: 'List containers', load: () => import('./ps.js') },
  push: { summary: 'Upload an image to a registry', load: () => import('./push.js') },
  rm: { summary: 'Remove one or more containers', load: () => import('./rm.js') },
  rmi: { summary: 'Remove one or more images', load: () => import('./rmi.js') },
  run: { summary: 'Create and run a new container from an image', load: () => import('./run.js') },
  save: { summary: 'Save one or more images to a tar archive (streamed to STDOUT by default)', load: () => import('./save.js') },
  system: { summary: 'Show disk usage of the store (system df); remove the networks and rules kiln added (system reset)', load: () => import('./system.js') },
  tag: { summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE', load: () => import('./tag.js') },
  // Container lifecycle (detached containers and their supervisors).
  attach: { summary: 'Attach local standard input, output, and error streams to a running container', load: () => import('./attach.js') },
  exec: { summary: 'Execute a command in a running container', load: () => import('./exec.js') },
  kill: { summary: 'Kill one or more running containers', load: () => import('./kill.js') },
  logs: { summary: 'Fetch the logs of a container', load: () => import('./logs.js') },
  pause: { summary: 'Pause all processes within one or more containers', load: () => import('./pause.js') },
  restart: { summary: 'Restart one or more containers', load: () => import('./restart.js') },
  start: { summary: 'Start one or more stopped containers', load: () => import('./start.js') },
  stats: { summary: 'Display a live stream of container(s) resource usage statistics', load: () => import('./stats.js') },
  stop: { summary: 'Stop one or more running containers', load: () => import('./stop.js') },
  unpause: { summary: 'Unpause all processes within one or more containers', load: () => import('./unpause.js') },
  wait: { summary: 'Block until one or more containers stop, then print their exit codes', load: () => import('./wait.js') },
  supervise: { summary: 'Hold one detached container (started by kiln itself)', load: () => import('./supervise.js'), hidden: true },
};
