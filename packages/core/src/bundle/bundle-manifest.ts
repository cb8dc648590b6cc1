import * as dagCbor from "@ipld/dag-cbor";
import { z } from "zod";
import { sameBytes } from "../bytes.js";
import { CID, DAG_CBOR_CODEC, parseCid, RAW_CODEC, recordCid } from "../cid.js";
import { CanonError } from "../error.js";
import { ContentCidString } from "../records/fields.js";
import { MAX_CONTENT_BYTES } from "../records/release.js";
import { bundlePathKey, bundlePathProblem, compareBundlePaths } from "./bundle-path.js";

/** Most files in one bundle. */
export const MAX_BUNDLE_FILES = 1000;

/**
 * Most bytes in one bundle, all files together (each file is also at most
 * `MAX_CONTENT_BYTES`). A relay keeps a standard's document up to 32 MiB by
 * default (`apps/relay/src/limits.ts`), and the document holds every
 * version's files (identical files once): 8 MiB leaves room for the
 * Automerge overhead and several full rewrites of a full-size bundle.
 */
export const MAX_BUNDLE_BYTES = 8 * 1024 * 1024;

/** `mode` of a file with no executable bit (0644). */
export const MODE_FILE = 0o644;
/** `mode` of an executable file (0755: any `x` bit was set on disk). */
export const MODE_EXECUTABLE = 0o755;

/** One file of a bundle: its raw content CID, mode, relative path and size. */
export const BundleEntry = z
  .object({
    cid: ContentCidString,
    mode: z.union([z.literal(MODE_FILE), z.literal(MODE_EXECUTABLE)]),
    path: z.string().superRefine((path, context) => {
      const problem = bundlePathProblem(path);
      if (problem !== undefined) context.addIssue({ code: "custom", message: problem });
    }),
    size: z.number().int().min(0).max(MAX_CONTENT_BYTES),
  })
  .strict();
/** One file of a bundle. */
export type BundleEntry = z.infer<typeof BundleEntry>;

/**
 * A bundle's manifest: the content of a release that is a folder. Its
 * DAG-CBOR encoding (`cid` as a CID, tag 42) is what the release's content
 * CID addresses. Files are sorted by path bytewise (UTF-8), with no two
 * paths equal ignoring case and no file also a folder of another, at most {@link MAX_BUNDLE_FILES} files and
 * {@link MAX_BUNDLE_BYTES} bytes in all. `docs/bundles.md` describes the
 * format and recomputes the CID with coreutils.
 */
export const BundleManifest = z
  .object({
    v: z.literal(1),
    type: z.literal("canon/bundle"),
    files: z.array(BundleEntry).min(1).max(MAX_BUNDLE_FILES),
  })
  .strict()
  .superRefine((manifest, context) => {
    const problem = filesProblem(manifest.files);
    if (problem !== undefined) context.addIssue({ code: "custom", message: problem });
  });
/** A bundle's manifest. */
export type BundleManifest = z.infer<typeof BundleManifest>;

function filesProblem(files: readonly BundleEntry[]): string | undefined {
  let total = 0;
  const keys = new Map<string, string>();
  for (let i = 0; i < files.length; i++) {
    const file = files[i] as BundleEntry;
    total += file.size;
    const previous = files[i - 1];
    if (previous !== undefined && compareBundlePaths(previous.path, file.path) >= 0)
      return previous.path === file.path
        ? `${JSON.stringify(file.path)} is listed twice`
        : `files are not sorted by path (${JSON.stringify(file.path)} after ${JSON.stringify(previous.path)})`;
    const key = bundlePathKey(file.path);
    const other = keys.get(key);
    if (other !== undefined)
      return `${JSON.stringify(file.path)} and ${JSON.stringify(other)} differ only in case`;
    keys.set(key, file.path);
  }
  // A path cannot be a file and a folder of another file at once (ignoring case, as above).
  for (const file of files) {
    const segments = file.path.split("/");
    for (let depth = 1; depth < segments.length; depth++) {
      const folder = keys.get(bundlePathKey(segments.slice(0, depth).join("/")));
      if (folder !== undefined)
        return `${JSON.stringify(folder)} is both a file and a folder (of ${JSON.stringify(file.path)})`;
    }
  }
  if (total > MAX_BUNDLE_BYTES)
    return `the files hold ${total} bytes; a bundle is at most ${MAX_BUNDLE_BYTES} bytes`;
  return undefined;
}

/** A file to put in a bundle, before sorting. */
export interface BundleEntryInput {
  readonly path: string;
  readonly cid: string;
  readonly size: number;
  readonly executable: boolean;
}

/**
 * The manifest of some files: sorted by path, each with its mode, checked
 * against the grammar and the limits.
 * @throws CanonError `BAD_ARGUMENT` naming the problem (a path, a collision, a limit).
 */
export function bundleManifestOf(files: readonly BundleEntryInput[]): BundleManifest {
  const manifest = {
    v: 1 as const,
    type: "canon/bundle" as const,
    files: [...files]
      .sort((a, b) => compareBundlePaths(a.path, b.path))
      .map(({ path, cid, size, executable }) => ({
        cid,
        mode: executable ? MODE_EXECUTABLE : MODE_FILE,
        path,
        size,
      })),
  };
  return checked(manifest, "BAD_ARGUMENT");
}

/**
 * The manifest's DAG-CBOR bytes: deterministic (DAG-CBOR orders map keys by
 * length, then bytewise), so equal manifests always encode identically.
 * @throws CanonError `BAD_ARGUMENT` when the manifest breaks the schema or the limits.
 */
export function encodeBundleManifest(manifest: BundleManifest): Uint8Array {
  const valid = checked(manifest, "BAD_ARGUMENT");
  return dagCbor.encode({
    v: valid.v,
    type: valid.type,
    files: valid.files.map((file) => ({ ...file, cid: CID.parse(file.cid) })),
  });
}

/**
 * Decodes a manifest from untrusted bytes: DAG-CBOR, every `cid` a raw
 * sha2-256 CID, the schema and the limits, and the bytes exactly as
 * {@link encodeBundleManifest} writes them (a second encoding of the same
 * manifest is refused, so one manifest has one CID).
 * @throws CanonError `BAD_RECORD` saying what is wrong.
 */
export function decodeBundleManifest(bytes: Uint8Array): BundleManifest {
  if (bytes.length > MAX_CONTENT_BYTES)
    throw new CanonError("BAD_RECORD", `a bundle manifest is at most ${MAX_CONTENT_BYTES} bytes`);
  let decoded: unknown;
  try {
    decoded = dagCbor.decode(bytes);
  } catch (cause) {
    throw new CanonError(
      "BAD_RECORD",
      `the bundle manifest is not DAG-CBOR (${(cause as Error).message})`,
      { cause },
    );
  }
  const files =
    typeof decoded === "object" && decoded !== null && "files" in decoded
      ? (decoded as { files: unknown }).files
      : undefined;
  const manifest = checked(
    {
      ...(decoded as object),
      files: Array.isArray(files)
        ? files.map((file: unknown) =>
            typeof file === "object" && file !== null && "cid" in file
              ? { ...file, cid: cidText((file as { cid: unknown }).cid) }
              : file,
          )
        : files,
    },
    "BAD_RECORD",
  );
  const again = dagCbor.encode({
    v: manifest.v,
    type: manifest.type,
    files: manifest.files.map((file) => ({ ...file, cid: CID.parse(file.cid) })),
  });
  if (!sameBytes(again, bytes))
    throw new CanonError("BAD_RECORD", "the bundle manifest is not in its canonical encoding");
  return manifest;
}

/** The content CID of a bundle: its manifest's CID (CIDv1, dag-cbor, sha2-256). */
export async function bundleCid(manifest: BundleManifest): Promise<CID> {
  return recordCid(encodeBundleManifest(manifest));
}

/** True when `cid` is a bundle's content CID (CIDv1, codec dag-cbor, sha2-256); never throws. */
export function isBundleCid(cid: string): boolean {
  try {
    const parsed = parseCid(cid);
    return parsed.version === 1 && parsed.code === DAG_CBOR_CODEC && parsed.multihash.code === 0x12;
  } catch {
    return false;
  }
}

/** A CID from the decoded manifest as text, or a value the schema refuses (a string that is not a CID). */
function cidText(value: unknown): unknown {
  const cid = CID.asCID(value);
  if (cid === null) return value === undefined ? value : "(not a CID)";
  return cid.code === RAW_CODEC && cid.version === 1 ? cid.toString() : "(not a raw CID)";
}

function checked(value: unknown, code: "BAD_ARGUMENT" | "BAD_RECORD"): BundleManifest {
  const parsed = BundleManifest.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const at = issue?.path.length ? ` at ${issue.path.join(".")}` : "";
  throw new CanonError(code, `invalid bundle manifest: ${issue?.message ?? "schema"}${at}`);
}
