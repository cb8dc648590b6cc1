/**
 * True when a `/`-separated relative path goes through git's metadata
 * folder, judged as git judges the paths it refuses to check out: a segment
 * that is `.git` ignoring case and trailing dots or spaces (one folder on
 * Windows and macOS file systems), or `git~1`, its short name on NTFS,
 * either followed by an NTFS stream (`.git::$INDEX_ALLOCATION` is the
 * folder itself on Windows, `.git:x` a stream of it).
 * Canon never writes there (a hook or a `core.fsmonitor` there runs code on
 * the next git command) and never publishes one (its config keeps remotes,
 * often with their tokens).
 */
export function isGitMetadataPath(path: string): boolean {
  return path.split("/").some((segment) => {
    const name = segment
      .replace(/:.*$/s, "")
      .replace(/[. ]+$/, "")
      .toLowerCase();
    return name === ".git" || name === "git~1";
  });
}
