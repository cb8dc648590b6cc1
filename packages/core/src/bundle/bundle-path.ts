/** Longest path of a file in a bundle, in UTF-8 bytes. */
export const MAX_BUNDLE_PATH_BYTES = 512;

const utf8 = new TextEncoder();
/** A UTF-16 surrogate without its pair: a string that has no UTF-8 encoding. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why `path` cannot name a file in a bundle, or undefined when it can. A
 * bundle path is relative with `/` between segments: not empty, no empty,
 * `.` or `..` segment (so no leading or trailing `/` and no way out of the
 * folder), no `\`, no control character (C0, DEL, C1), well-formed Unicode
 * (valid UTF-8 once encoded), at most {@link MAX_BUNDLE_PATH_BYTES} bytes.
 */
export function bundlePathProblem(path: string): string | undefined {
  if (path.length === 0) return "the path is empty";
  if (LONE_SURROGATE.test(path)) return "the path is not valid UTF-8";
  if (utf8.encode(path).length > MAX_BUNDLE_PATH_BYTES)
    return `the path is over ${MAX_BUNDLE_PATH_BYTES} bytes`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(path)) return "the path holds a control character";
  if (path.includes("\\")) return "the path holds a backslash";
  for (const segment of path.split("/")) {
    if (segment === "") return "the path has an empty segment (a leading, trailing or double '/')";
    if (segment === "." || segment === "..") return `the path has a '${segment}' segment`;
  }
  return undefined;
}

/**
 * The key under which two bundle paths collide on a case-insensitive file
 * system (macOS, Windows): NFC-normalised, then lowercase. A bundle never
 * holds two paths with the same key.
 */
export function bundlePathKey(path: string): string {
  return path.normalize("NFC").toLowerCase();
}

/** Orders paths bytewise by their UTF-8 encoding (the order of a bundle's files). */
export function compareBundlePaths(a: string, b: string): number {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  const length = Math.min(x.length, y.length);
  for (let i = 0; i < length; i++) {
    const difference = (x[i] as number) - (y[i] as number);
    if (difference !== 0) return difference;
  }
  return x.length - y.length;
}
