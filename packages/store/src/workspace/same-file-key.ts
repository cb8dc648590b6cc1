/**
 * The key under which two project paths are one file on the file systems a
 * project is checked out on: Unicode NFC, then case-folded (each code point
 * upper- then lower-cased, so `ς`/`σ`/`Σ` and `ß`/`SS` meet), then NFC
 * again. macOS (APFS, HFS+) and Windows ignore case, and macOS also ignores
 * normalisation: `café` (composed) and `cafe\u0301` (decomposed) are one
 * file there. Only for collision checks: names as stored and written are
 * unchanged.
 */
export function sameFileKey(path: string): string {
  let folded = "";
  for (const char of path.normalize("NFC")) folded += char.toUpperCase().toLowerCase();
  return folded.normalize("NFC");
}
