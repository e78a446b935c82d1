/**
 * Whether a process with this pid exists, for state a process left behind (a lock, a scratch
 * dir, a container's state): EPERM means it does, owned by another user, so its state stays.
 */
export function processAlive(pid: number | undefined): boolean {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
