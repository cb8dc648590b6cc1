import type { Stats } from "node:fs";
import { chmod, link, mkdir, readdir, readFile, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import {
  CanonError,
  generateKeyPair,
  type Identity,
  IdentityName,
  identityFileOf,
  type KeyPair,
  keyPairOfIdentityFile,
} from "@canon/core";
import { writeFileAtomic } from "./atomic-write.js";
import type { CanonHome } from "./canon-home.js";
import { assertPrivate } from "./private-file.js";
import { readJsonFile } from "./read-json-file.js";

/** The owner's own identity's name; agents get names of their own. */
export const DEFAULT_IDENTITY = "default";

/** An identity with its key pair, ready to sign. */
export interface Signer {
  readonly identity: Identity;
  readonly keyPair: KeyPair;
}

function identityPath(home: CanonHome, name: string): string {
  const parsed = IdentityName.safeParse(name);
  if (!parsed.success)
    throw new CanonError(
      "BAD_ARGUMENT",
      `"${name}" is not a valid identity name: ${parsed.error.issues[0]?.message}`,
    );
  return join(home.identities, `${name}.json`);
}

/**
 * Loads an identity by name, ready to sign.
 * @throws CanonError `NO_IDENTITY` when it does not exist (with what to run), `BAD_CONFIG` when its file is invalid,
 * `IDENTITY_UNPROTECTED` when group or others may read or write its file (with the `chmod` that fixes it).
 */
export async function loadIdentity(home: CanonHome, name = DEFAULT_IDENTITY): Promise<Signer> {
  const path = identityPath(home, name);
  if (keepingSigningKeys) return loadKeptIdentity(home, name, path);
  await assertPrivate(path);
  return readIdentityFile(home, name, path);
}

/** Whether {@link loadIdentity} keeps the key pairs it derives ({@link keepSigningKeys}). */
let keepingSigningKeys = false;

/**
 * Called by the home's owner process (`becomeOwner`): it runs every routed
 * command of its home, and deriving the key pair from the key file (an
 * ed25519 key from its seed, WebCrypto's `importKey`) cost every `publish`
 * and `sync` there again. From then on {@link loadIdentity} keeps each key
 * pair it derived in this process, for as long as the key file is the same
 * file, unchanged, and private: see {@link loadKeptIdentity}. `false`
 * stops keeping them and forgets those kept.
 */
export function keepSigningKeys(keep = true): void {
  keepingSigningKeys = keep;
  if (!keep) kept.clear();
}

/** A key pair derived from a key file, and the file as it was when it was read. */
interface KeptIdentity {
  readonly file: string;
  readonly signer: Signer;
}
const kept = new Map<string, KeptIdentity>();

/** What says a file is the one read before, unchanged: its identity, size, and modification and change times. */
function fileIdentity(stats: Stats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}:${stats.mode}`;
}

/**
 * {@link loadIdentity} in the home's owner: one `stat` of the key file each
 * time, which refuses it as {@link assertPrivate} does when group or others
 * may read or write it (checked every time, kept key or not), and gives back
 * the key pair derived before when the file is the same one (device and
 * inode), unchanged (size, modification and change times, mode); otherwise
 * (replaced, rewritten, `chmod`ed, removed) the file is read and the key
 * derived again. The key pair stays in this process's memory, which already
 * held it for each command.
 */
async function loadKeptIdentity(home: CanonHome, name: string, path: string): Promise<Signer> {
  let stats: Stats;
  try {
    stats = await stat(path);
  } catch {
    kept.delete(path);
    return readIdentityFile(home, name, path);
  }
  if (process.platform !== "win32" && (stats.mode & 0o077) !== 0) {
    kept.delete(path);
    await assertPrivate(path);
  }
  const file = fileIdentity(stats);
  const found = kept.get(path);
  if (found !== undefined && found.file === file) return found.signer;
  const signer = await readIdentityFile(home, name, path);
  // Kept only if the file did not change while it was read.
  const after = await stat(path).catch(() => undefined);
  if (after !== undefined && fileIdentity(after) === file) kept.set(path, { file, signer });
  else kept.delete(path);
  return signer;
}

/**
 * The public part of an identity (name, did), for showing it: unlike
 * {@link loadIdentity}, it works on a key file others can read, since nothing
 * is signed with it.
 * @throws CanonError `NO_IDENTITY` when it does not exist, `BAD_CONFIG` when its file is invalid.
 */
export async function readIdentity(home: CanonHome, name = DEFAULT_IDENTITY): Promise<Identity> {
  return (await readIdentityFile(home, name, identityPath(home, name))).identity;
}

async function readIdentityFile(home: CanonHome, name: string, path: string): Promise<Signer> {
  const json = await readJsonFile(path);
  if (json === undefined) {
    const hint =
      name === DEFAULT_IDENTITY
        ? "run `canon init` first"
        : `create it with \`canon id new --name ${name}\``;
    throw new CanonError("NO_IDENTITY", `no identity "${name}" in ${home.root}; ${hint}`);
  }
  const { identity, keyPair } = await keyPairOfIdentityFile(json, path);
  return {
    identity: { name: identity.name, did: identity.did, createdAt: identity.createdAt },
    keyPair,
  };
}

/**
 * Creates a new identity, stored 0600 in a 0700 directory. Never overwrites.
 * @throws CanonError `BAD_ARGUMENT` when one with that name exists.
 */
export async function createIdentity(home: CanonHome, name = DEFAULT_IDENTITY): Promise<Signer> {
  const path = identityPath(home, name);
  const keyPair = await generateKeyPair();
  const file = identityFileOf(name, keyPair, new Date().toISOString());
  try {
    await mkdir(home.identities, { recursive: true, mode: 0o700 });
    await chmod(home.identities, 0o700);
    // Written beside, then linked into place: link fails if the name exists, so
    // two processes creating the same identity can never overwrite a key.
    const temporary = `${path}.tmp-${process.pid}-${Date.now()}`;
    await writeFileAtomic(temporary, `${JSON.stringify(file, null, 2)}\n`, 0o600);
    try {
      await link(temporary, path);
    } finally {
      await unlink(temporary).catch(() => {});
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST")
      throw new CanonError("BAD_ARGUMENT", `identity "${name}" already exists in ${home.root}`);
    throw new CanonError(
      "STORAGE_UNWRITABLE",
      `cannot write identities in ${home.root}: ${code ?? (error as Error).message}`,
    );
  }
  return { identity: { name, did: file.did, createdAt: file.createdAt }, keyPair };
}

/** Loads the named identity, creating it first if it does not exist. Returns whether it was created. */
export async function ensureIdentity(
  home: CanonHome,
  name = DEFAULT_IDENTITY,
): Promise<Signer & { created: boolean }> {
  if (await exists(identityPath(home, name)))
    return { ...(await loadIdentity(home, name)), created: false };
  return { ...(await createIdentity(home, name)), created: true };
}

/** Every identity in this home, by name. */
export async function listIdentities(home: CanonHome): Promise<Identity[]> {
  let names: string[];
  try {
    names = (await readdir(home.identities))
      .filter((file) => file.endsWith(".json"))
      .map((file) => file.slice(0, -5));
  } catch {
    return [];
  }
  const identities: Identity[] = [];
  for (const name of names.sort()) identities.push(await readIdentity(home, name));
  return identities;
}

async function exists(path: string): Promise<boolean> {
  try {
    await readFile(path);
    return true;
  } catch {
    return false;
  }
}
