/**
 * Which of a running container's cgroup directories (its record's cgroupDirs) belongs to which
 * hierarchy: the v1 directory of a controller (under that controller's mount), the v2 one
 * (under the unified mount of a hybrid host, or the one hierarchy of a v2 host). pause, exec
 * and stats look their files up here.
 */
import { hostCgroupLayout } from '../cgroupLayout.js';

/** The directory of the v1 hierarchy that holds `controller`, when the container joined it. */
export function v1DirOf(cgroupDirs: readonly string[] | undefined, controller: string): string | undefined {
  const layout = hostCgroupLayout();
  if (!cgroupDirs || layout?.version !== 'v1') return undefined;
  const mount = layout.controllers.get(controller);
  return mount === undefined ? undefined : cgroupDirs.find((d) => d.startsWith(`${mount}/`));
}

/** The container's cgroup v2 directory, when it has one. */
export function v2DirOf(cgroupDirs: readonly string[] | undefined): string | undefined {
  const layout = hostCgroupLayout();
  const root = layout?.version === 'v2' ? layout.mountPoint : layout?.unified;
  return root === undefined || !cgroupDirs ? undefined : cgroupDirs.find((d) => d.startsWith(`${root}/`));
}
