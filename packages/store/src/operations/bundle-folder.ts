import { constants } from "node:fs";
import { lstat, open, readdir, realpath, stat } from "node:fs/promises";
import { isAbsolute, join, relative, sep } from "node:path";
import {
  type BundleManifest,
  bundleManifestOf,
  bundlePathProblem,
  CanonError,
  contentCid,
  MAX_BUNDLE_BYTES,
  MAX_BUNDLE_FILES,
  MAX_CONTENT_BYTES,
} from "@canon/core";
import { isGitMetadataPath } from "./git-metadata.js";
import { unreadable as unreadableAs } from "./input-file.js";

/** One file of a bundle, with its exact bytes. */
export interface BundleFile {
  /** Relative path inside the bundle, `/` between segments, case kept. */
  readonly path: string;
  /** Raw sha2-256 CID of the bytes (its digest is their `sha256sum`). */
  readonly cid: string;
  readonly size: number;
  /** True when any `x` bit was set on disk (mode 0755 in the manifest, else 0644). */
  readonly executable: boolean;
  readonly bytes: Uint8Array;
}

/** A folder read as a bundle: its manifest and every file's bytes. */
export interface BundleFolder {
  readonly manifest: BundleManifest;
  /** In manifest order (bytewise by path). */
  readonly files: readonly BundleFile[];
}

/**
 * Reads a folder as a bundle, every file before anything is written: regular
 * files with their exact bytes and executable bit; a symbolic link to a
 * regular file inside the folder is followed (the file is stored under the
 * link's path); empty folders are not kept. Refused, naming the file: a link
 * leaving the folder, a link loop or a dangling link, a link to a folder, a
 * device, FIFO or socket, a `.git` folder, a path outside the grammar (`docs/bundles.md`),
 * two paths equal ignoring case, a file or the bundle over the limits, an
 * empty folder.
 * @throws CanonError `BAD_ARGUMENT` for what the folder holds, `FILE_UNREADABLE` when it or a file cannot be read.
 */
export async function readBundleFolder(dir: string): Promise<BundleFolder> {
  const root = await unreadable(dir, () => realpath(dir));
  const found: { path: string; absolute: string }[] = [];
  let total = 0;
  const walk = async (folder: string): Promise<void> => {
    const entries = await unreadable(folder, () => readdir(folder, { withFileTypes: true }));
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const absolute = join(folder, entry.name);
      const path = relative(root, absolute).split(sep).join("/");
      const shown = join(dir, path);
      const problem = bundlePathProblem(path);
      if (problem !== undefined)
        throw new CanonError("BAD_ARGUMENT", `${JSON.stringify(shown)}: ${problem}`);
      if (isGitMetadataPath(path))
        throw new CanonError(
          "BAD_ARGUMENT",
          `${shown} is git's metadata, which a bundle never holds (its config keeps remotes, often with tokens); publish a copy of the folder without it`,
        );
      const info = await unreadable(shown, () => lstat(absolute));
      if (info.isDirectory()) {
        await walk(absolute);
        continue;
      }
      let target = absolute;
      if (info.isSymbolicLink()) target = await linkTarget(root, absolute, shown);
      else if (!info.isFile())
        throw new CanonError(
          "BAD_ARGUMENT",
          `${shown} is ${kindOf(info)}; a bundle holds regular files only`,
        );
      found.push({ path, absolute: target });
      if (found.length > MAX_BUNDLE_FILES)
        throw new CanonError(
          "BAD_ARGUMENT",
          `${dir} holds more than ${MAX_BUNDLE_FILES} files; a bundle is at most ${MAX_BUNDLE_FILES} files`,
        );
    }
  };
  const top = await unreadable(dir, () => stat(root));
  if (!top.isDirectory()) throw new CanonError("FILE_UNREADABLE", `${dir} is not a folder`);
  await walk(root);
  if (found.length === 0)
    throw new CanonError(
      "BAD_ARGUMENT",
      `${dir} holds no files; a bundle has at least one (empty folders are not kept)`,
    );
  const files: BundleFile[] = [];
  for (const { path, absolute } of found) {
    const shown = join(dir, path);
    const { bytes, executable } = await readRegularFile(absolute, shown);
    total += bytes.length;
    if (total > MAX_BUNDLE_BYTES)
      throw new CanonError(
        "BAD_ARGUMENT",
        `${dir} holds more than ${MAX_BUNDLE_BYTES} bytes (at ${shown}); a bundle is at most ${MAX_BUNDLE_BYTES} bytes`,
      );
    const cid = (await contentCid(bytes)).toString();
    files.push({ path, cid, size: bytes.length, executable, bytes });
  }
  let manifest: BundleManifest;
  try {
    manifest = bundleManifestOf(files);
  } catch (error) {
    throw new CanonError(
      "BAD_ARGUMENT",
      `${dir}: ${(error as Error).message.replace(/^invalid bundle manifest: /, "")}`,
    );
  }
  const byPath = new Map(files.map((file) => [file.path, file]));
  return {
    manifest,
    files: manifest.files.map((entry) => byPath.get(entry.path) as BundleFile),
  };
}

/** The real path a link inside the folder points to: a regular file inside the folder, else refused. */
async function linkTarget(root: string, link: string, shown: string): Promise<string> {
  let target: string;
  try {
    target = await realpath(link);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CanonError(
      "BAD_ARGUMENT",
      code === "ELOOP"
        ? `${shown} is a symbolic link loop`
        : code === "ENOENT"
          ? `${shown} is a symbolic link to nothing (dangling)`
          : `cannot follow the symbolic link ${shown}: ${(error as Error).message}`,
    );
  }
  const inside = relative(root, target);
  if (inside === "" || inside === ".." || inside.startsWith(`..${sep}`) || isAbsolute(inside))
    throw new CanonError(
      "BAD_ARGUMENT",
      `${shown} is a symbolic link leaving the folder (to ${target}); a bundle keeps files inside it only`,
    );
  const info = await unreadable(shown, () => stat(target));
  if (!info.isFile())
    throw new CanonError(
      "BAD_ARGUMENT",
      `${shown} is a symbolic link to ${kindOf(info)}; only links to regular files are followed`,
    );
  return target;
}

/** A regular file's exact bytes and executable bit, read through one descriptor (so a swap after checking cannot slip in). */
async function readRegularFile(
  absolute: string,
  shown: string,
): Promise<{ bytes: Uint8Array; executable: boolean }> {
  // No link is followed here (links were resolved and checked), and a FIFO swapped in cannot block the read.
  const handle = await unreadable(shown, () =>
    open(absolute, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK),
  );
  try {
    const info = await handle.stat();
    if (!info.isFile())
      throw new CanonError(
        "BAD_ARGUMENT",
        `${shown} is ${kindOf(info)}; a bundle holds regular files only`,
      );
    if (info.size > MAX_CONTENT_BYTES)
      throw new CanonError(
        "BAD_ARGUMENT",
        `${shown} is ${info.size} bytes; a file in a bundle is at most ${MAX_CONTENT_BYTES} bytes`,
      );
    const bytes = new Uint8Array(await unreadable(shown, () => handle.readFile()));
    if (bytes.length > MAX_CONTENT_BYTES)
      throw new CanonError(
        "BAD_ARGUMENT",
        `${shown} grew past ${MAX_CONTENT_BYTES} bytes while being read`,
      );
    return { bytes, executable: (info.mode & 0o111) !== 0 };
  } finally {
    await handle.close();
  }
}

function kindOf(info: {
  isDirectory(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isBlockDevice(): boolean;
  isCharacterDevice(): boolean;
}): string {
  if (info.isDirectory()) return "a folder";
  if (info.isFIFO()) return "a FIFO";
  if (info.isSocket()) return "a socket";
  if (info.isBlockDevice() || info.isCharacterDevice()) return "a device";
  return "not a regular file";
}

/** A file-system error on a path of the folder, as `FILE_UNREADABLE` naming it. */
function unreadable<T>(file: string, work: () => Promise<T>): Promise<T> {
  return unreadableAs(file, work, "no such file or folder");
}
