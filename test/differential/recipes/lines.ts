/** A Dockerfile from its lines. */
export function lines(...ls: string[]): string {
  return ls.join('\n') + '\n';
}
