import { createHash } from "node:crypto";
import { chmod, lstat, mkdir, readFile, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { CanonError, MODE_EXECUTABLE, MODE_FILE, sameBytes } from "@canon/core";
import { writeFileAtomic } from "../home/atomic-write.js";
import type { CanonHome } from "../home/canon-home.js";
import { MAX_FILE_NAME_BYTES, MAX_NAME_BYTES, overlongName } from "./file-name-limit.js";
import { isGitMetadataPath } from "./git-metadata.js";
import type { ReleaseView } from "./release-view.js";
import type { ResolveRequest } from "./resolve.js";
import { resolveFiles } from "./resolve-files.js";

/** What to export, and where. */
export interface ExportRequest extends ResolveRequest {
  /** The folder to write the files into (created when missing). */
  readonly dir: string;
  /** Overwrite existing files whose bytes differ. */
  readonly force?: boolean | undefined;
}

/** One file an export wrote or found already right. */
export interface ExportedFile {
  /** Path inside the folder, `/` between segments. */
  readonly path: string;
  readonly size: number;
  readonly executable: boolean;
  /** The bytes' sha256 in hex (the digest of the file's raw CID). */
  readonly sha256: string;
  /** False when the file was already there with these exact bytes (and mode). */
  readonly written: boolean;
}

/** A release written out as files. */
export interface Exported extends ReleaseView {
  readonly dir: string;
  /** True for a bundle, false for a single-file standard (written as the last segment of its name). */
  readonly bundle: boolean;
  readonly files: readonly ExportedFile[];
}

/**
 * Writes a release out as files, offline: a bundle's tree (paths, exact
 * bytes, executable bits), or a single-file standard as one file named
 * after the last segment of its name (`skills/codeql` → `codeql`). Every
 * target is checked before anything is written: an existing file with other
 * bytes is refused unless `force`, and nothing is written through a
 * symbolic link, over a folder or into a `.git` folder the bundle names.
 * Files are written atomically; empty
 * folders of the original were never kept.
 * @throws CanonError as `resolveFiles`; `BAD_ARGUMENT` for a differing file without `force` or a link in the way,
 * `STORAGE_UNWRITABLE` when a file cannot be written.
 */
export async function exportStandard(home: CanonHome, request: ExportRequest): Promise<Exported> {
  const resolved = await resolveFiles(home, request);
  const files =
    resolved.files ??
    ([
      {
        path: resolved.standard.slice(resolved.standard.lastIndexOf("/") + 1),
        executable: false,
        bytes: resolved.content,
        size: resolved.content.length,
      },
    ] as const);
  const plans: { path: string; target: string; bytes: Uint8Array; mode: number; write: boolean }[] =
    [];
  for (const file of files) {
    if (isGitMetadataPath(file.path))
      throw new CanonError(
        "BAD_ARGUMENT",
        `${resolved.standard}@${resolved.version} holds ${JSON.stringify(file.path)}, inside a .git folder, where an export never writes (hooks and config there run code); nothing was written`,
      );
    const tooLong = overlongName(file.path);
    if (tooLong !== undefined)
      throw new CanonError(
        "STORAGE_UNWRITABLE",
        `cannot write ${JSON.stringify(file.path)}: a name in it is ${Buffer.byteLength(tooLong)} bytes, longer than file systems take (${MAX_NAME_BYTES}, ${MAX_FILE_NAME_BYTES} for a file's own name); nothing was written`,
      );
    const target = join(request.dir, ...file.path.split("/"));
    const mode = file.executable ? MODE_EXECUTABLE : MODE_FILE;
    const existing = await existingFile(request.dir, file.path);
    if (existing !== undefined && !sameBytes(existing, file.bytes) && request.force !== true)
      throw new CanonError(
        "BAD_ARGUMENT",
        `${target} exists with other bytes; nothing was written (--force overwrites it)`,
      );
    plans.push({
      path: file.path,
      target,
      bytes: file.bytes,
      mode,
      write: existing === undefined || !sameBytes(existing, file.bytes),
    });
  }
  const exported: ExportedFile[] = [];
  for (const plan of plans) {
    if (plan.write) await makeFolders(dirname(plan.target));
    try {
      if (plan.write) await writeFileAtomic(plan.target, plan.bytes, plan.mode, true);
      else if (((await lstat(plan.target)).mode & 0o777) !== plan.mode)
        await chmod(plan.target, plan.mode);
    } catch (error) {
      throw new CanonError(
        "STORAGE_UNWRITABLE",
        `cannot write ${plan.target}: ${(error as Error).message}`,
      );
    }
    exported.push({
      path: plan.path,
      size: plan.bytes.length,
      executable: plan.mode === MODE_EXECUTABLE,
      sha256: createHash("sha256").update(plan.bytes).digest("hex"),
      written: plan.write,
    });
  }
  const {
    content: _content,
    files: _files,
    forkedWith: _f,
    lastSync: _l,
    freshness: _r,
    ...view
  } = resolved;
  return { ...view, dir: request.dir, bundle: resolved.files !== null, files: exported };
}

/**
 * The bytes of the file at `path` under `dir`, or undefined when there is
 * none. Every folder on the way must be a real folder (or missing) and the
 * file a regular file: a symbolic link or a folder in the way is refused, so
 * an export never writes outside `dir`.
 * @throws CanonError `BAD_ARGUMENT` naming what is in the way.
 */
async function existingFile(dir: string, path: string): Promise<Uint8Array | undefined> {
  const segments = path.split("/");
  let current = dir;
  for (let i = 0; i < segments.length; i++) {
    current = join(current, segments[i] as string);
    let info: Awaited<ReturnType<typeof lstat>>;
    try {
      info = await lstat(current);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return undefined;
      if (code === "ENOTDIR")
        throw new CanonError(
          "BAD_ARGUMENT",
          `${current} cannot be written: a file is in the way of its folder; nothing was written`,
        );
      throw new CanonError(
        "STORAGE_UNWRITABLE",
        `cannot read ${current}: ${(error as Error).message}`,
      );
    }
    const last = i === segments.length - 1;
    if (info.isSymbolicLink())
      throw new CanonError(
        "BAD_ARGUMENT",
        `${current} is a symbolic link; an export never writes through one (remove it first); nothing was written`,
      );
    if (!last && !info.isDirectory())
      throw new CanonError(
        "BAD_ARGUMENT",
        `${current} is in the way: a folder is needed there; nothing was written`,
      );
    if (last && !info.isFile())
      throw new CanonError(
        "BAD_ARGUMENT",
        `${current} is in the way: not a regular file; nothing was written`,
      );
  }
  try {
    return new Uint8Array(await readFile(current));
  } catch (error) {
    throw new CanonError(
      "STORAGE_UNWRITABLE",
      `cannot read ${current}: ${(error as Error).message}`,
    );
  }
}

/**
 * Creates a folder and its missing parents one level at a time (Node's
 * recursive `mkdir` never returns on some file systems, such as `/proc`).
 * @throws CanonError `STORAGE_UNWRITABLE` naming the folder that could not be made.
 */
async function makeFolders(folder: string): Promise<void> {
  const absolute = resolve(folder);
  const missing: string[] = [];
  for (let current = absolute; ; current = dirname(current)) {
    try {
      if ((await stat(current)).isDirectory()) break;
      throw new CanonError("STORAGE_UNWRITABLE", `cannot write into ${current}: not a folder`);
    } catch (error) {
      if (error instanceof CanonError) throw error;
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || dirname(current) === current)
        throw new CanonError(
          "STORAGE_UNWRITABLE",
          `cannot write into ${current}: ${(error as Error).message}`,
        );
      missing.unshift(current);
    }
  }
  for (const path of missing) {
    try {
      await mkdir(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") continue;
      throw new CanonError(
        "STORAGE_UNWRITABLE",
        `cannot create the folder ${path}: ${(error as Error).message}`,
      );
    }
  }
}
