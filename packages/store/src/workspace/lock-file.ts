import { join } from "node:path";
import { CanonError } from "@canon/core";
import { z } from "zod";
import { writeFileAtomic } from "../home/atomic-write.js";
import { readProjectFile } from "./project-file.js";
import { Target } from "./project-manifest.js";
import { standardsRecord } from "./standards-record.js";
import { LockedPath } from "./target-path.js";

/** Largest canon.lock read (a hundred bundles of a thousand files is about 20 MiB). */
export const MAX_LOCK_BYTES = 64 * 1024 * 1024;

/** The lock's file name, beside canon.json. */
export const LOCK_FILE = "canon.lock";

const Cid = z.string().min(1).max(200);

/** One file a pull wrote, with the sha-256 of its bytes (hex). */
export const LockedFile = z.strictObject({
  path: LockedPath,
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits"),
});
/** One file a pull wrote. */
export type LockedFile = z.infer<typeof LockedFile>;

/** What a pull installed of one standard. */
export const LockedStandard = z.strictObject({
  version: z.number().int().positive(),
  release: Cid,
  content: Cid,
  rendered: Cid,
  /** The corrections the rendered context listed, oldest first, so `--frozen` renders exactly the same. */
  corrections: z.array(Cid).max(1024),
  /** The targets as canon.json stated them when the lock was written (a mismatch means the lock is stale). */
  targets: z.array(Target).min(1).max(64),
  files: z.array(LockedFile).max(100_000),
});
/** What a pull installed of one standard. */
export type LockedStandard = z.infer<typeof LockedStandard>;

/** canon.lock: exactly what the last pull installed. */
export const LockFile = z.strictObject({
  lockVersion: z.literal(1),
  space: z.string().min(1).max(2048),
  standards: standardsRecord(LockedStandard),
});
/** canon.lock, parsed. */
export type LockFile = z.infer<typeof LockFile>;

/**
 * Reads a project's canon.lock; undefined when there is none.
 * @throws CanonError `BAD_CONFIG` naming the file and the field when it does not parse (edited by hand?), is not a regular file or is over {@link MAX_LOCK_BYTES}.
 */
export async function readLock(dir: string): Promise<LockFile | undefined> {
  const path = join(dir, LOCK_FILE);
  const text = await readProjectFile(path, MAX_LOCK_BYTES);
  if (text === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new CanonError(
      "BAD_CONFIG",
      `${path} is not JSON; restore it from version control or delete it and run \`canon pull\``,
    );
  }
  const parsed = LockFile.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CanonError(
      "BAD_CONFIG",
      `${path}: field ${issue?.path.map(String).join(".") || "(top level)"}: ${issue?.message ?? "invalid"}; restore it from version control or delete it and run \`canon pull\``,
    );
  }
  return parsed.data;
}

/**
 * Refuses a lock that {@link readLock} would refuse by its schema, before a pull writes
 * anything: every later command reads the lock, so one it cannot read back
 * would leave the project stuck until the lock is deleted (and the next pull
 * would write it again).
 * @throws CanonError `BAD_CONFIG` naming the field at fault.
 */
export function assertLockReadable(lock: LockFile, dir: string): void {
  const parsed = LockFile.safeParse(lock);
  if (parsed.success) return;
  const issue = parsed.error.issues[0];
  throw new CanonError(
    "BAD_CONFIG",
    `the canon.lock this pull would write in ${dir} could not be read back (field ${issue?.path.map(String).join(".") || "(top level)"}: ${issue?.message ?? "invalid"}); nothing was written and canon.lock is unchanged`,
  );
}

/** The lock as written: JSON with keys sorted at every level, 2-space indent, a trailing newline, files sorted by path. */
export function serializeLock(lock: LockFile): string {
  return `${JSON.stringify(sortKeys(lock), null, 2)}\n`;
}

/** Writes canon.lock atomically (a pull writes it last). */
export async function writeLock(dir: string, lock: LockFile): Promise<void> {
  await writeFileAtomic(join(dir, LOCK_FILE), serializeLock(lock));
}

/** JSON of a value with object keys sorted (arrays keep their order): what two targets lists are compared by. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object")
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  return value;
}
