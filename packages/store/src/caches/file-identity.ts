import { type Stats, statSync } from "node:fs";

/**
 * A file's identity: its inode, size and times. Any write, replacement or
 * removal by anyone changes it (`ctime` cannot be set back), so a cache that
 * remembers what it wrote together with the file's identity right after can
 * skip reading the file back while the identity holds. Undefined when the
 * file is absent or cannot be looked at.
 */
export function fileIdentityOf(path: string): string | undefined {
  try {
    const stats = statSync(path, { throwIfNoEntry: false });
    return stats && identityOfStats(stats);
  } catch {
    return undefined;
  }
}

/** {@link fileIdentityOf} from a `stat` already made (of an open file, say). */
export function identityOfStats(
  stats: Pick<Stats, "ino" | "size" | "mtimeMs" | "ctimeMs">,
): string {
  return `${stats.ino} ${stats.size} ${stats.mtimeMs} ${stats.ctimeMs}`;
}
