/** Longest name of a file or folder most file systems take (NAME_MAX), in bytes. */
export const MAX_NAME_BYTES = 255;
/** Longest file name Canon writes: an atomic write's temporary file adds `.tmp-` and 12 hex digits. */
export const MAX_FILE_NAME_BYTES = MAX_NAME_BYTES - 17;

/**
 * The first name of a `/`-separated relative path that is longer than file
 * systems take ({@link MAX_NAME_BYTES}; {@link MAX_FILE_NAME_BYTES} for the
 * file's own name), or undefined. A bundle path may hold one (its grammar
 * bounds the whole path at 512 bytes), and a write would stop halfway.
 */
export function overlongName(path: string): string | undefined {
  const names = path.split("/");
  return names.find(
    (name, i) =>
      Buffer.byteLength(name) > (i === names.length - 1 ? MAX_FILE_NAME_BYTES : MAX_NAME_BYTES),
  );
}
