/**
 * Starting a home's owner process on demand, once however many commands ask
 * at the same time. A command that did its work without an owner starts one
 * for the next command; under load several such commands end together, and
 * each used to spawn its own owner, all but one then waiting up to 7 s for
 * the home's `owner.lock` and exiting. Now a command spawns one only when it
 * wins the owner's claim, `$CANON_HOME/owner.claim`, created with `link`
 * (which only one process can win). The claim names the process starting
 * or serving as the owner, with its start time: first the command, then the
 * owner it spawned, which keeps it (renamed over with its own) once it
 * holds the home's lock and removes it when it stops. A claim naming a
 * process that is gone (`kill -9` at any moment), stopped, or another under
 * a reused pid is taken over by the next command. Nothing ever waits on the
 * claim: it only decides whether a command spawns an owner; the command
 * itself has already done its work.
 * See docs/decisions/2026-11-29-home-owner.md ("One owner started at a time").
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { linkSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { processLiveness, processStartTime } from "@canon/store";
import { ownerClaimOf, ownerDisabled } from "./owner-socket.js";

/** The environment variable that hands a spawned owner the token of the claim made for it. */
export const CLAIM_TOKEN_ENV = "CANON_OWNER_CLAIM";

/** What a claim holds: the process starting or serving as the owner, and a token naming this claim. */
interface OwnerClaim {
  readonly pid: number;
  readonly started: string | undefined;
  readonly token: string;
}

/** The claim at `path` (`claim` undefined when it is garbled) and the file's inode; undefined when there is none. */
function readClaim(path: string): { claim: OwnerClaim | undefined; inode: number } | undefined {
  let text: string;
  let inode: number;
  try {
    inode = statSync(path).ino;
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  // Written by another process or by hand: anything unexpected names no one.
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { claim: undefined, inode };
  }
  if (typeof value !== "object" || value === null) return { claim: undefined, inode };
  const { pid, started, token } = value as Record<string, unknown>;
  if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid <= 0)
    return { claim: undefined, inode };
  if ((started !== undefined && typeof started !== "string") || typeof token !== "string")
    return { claim: undefined, inode };
  return { claim: { pid, started, token }, inode };
}

/** Writes a claim naming `pid` to a file of its own beside `path`, for a `link` or `rename` onto it. */
function writeBeside(path: string, pid: number, token: string): string {
  const claim: OwnerClaim = { pid, started: processStartTime(pid), token };
  const temporary = `${path}.${process.pid}.${token}.tmp`;
  writeFileSync(temporary, JSON.stringify(claim), { mode: 0o600 });
  return temporary;
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Gone already.
  }
}

/**
 * True while the process a claim names exists and runs (a stopped one will
 * not start or serve). Where the machine gives start times (Linux), a claim
 * without one names no one: only its start time tells the process from
 * another that took its pid since.
 */
function claimHeld(claim: OwnerClaim | undefined): boolean {
  if (claim === undefined) return false;
  if (claim.started === undefined && processStartTime(process.pid) !== undefined) return false;
  return processLiveness(claim.pid, claim.started) === "running";
}

/**
 * Takes the claim for this process: true when it did (it may spawn the
 * owner), false when a live process holds it (an owner starting or
 * serving). A claim that names no running process is taken over.
 */
function takeClaim(path: string, token: string): boolean {
  const temporary = writeBeside(path, process.pid, token);
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(temporary, path);
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") return false;
      }
      const found = readClaim(path);
      if (found === undefined) continue; // removed meanwhile: try again
      if (claimHeld(found.claim)) return false;
      // Stale: removed only if it is still the file read (another command may have taken it over).
      try {
        if (statSync(path).ino === found.inode) unlinkSync(path);
      } catch {
        // Gone already.
      }
    }
    return false;
  } finally {
    unlinkQuietly(temporary);
  }
}

/**
 * Names this process in the home's claim, over whatever was there: called
 * by the owner once it holds the home's lock (it is the owner, whoever
 * claimed before). Returns the claim's token, for {@link releaseOwnerClaim}.
 * Never fails: without the claim, a command may only spawn an owner that
 * finds the lock taken and exits.
 */
export function holdOwnerClaim(root: string, token = randomBytes(12).toString("hex")): string {
  const path = ownerClaimOf(root);
  try {
    const temporary = writeBeside(path, process.pid, token);
    try {
      renameSync(temporary, path);
    } finally {
      unlinkQuietly(temporary);
    }
  } catch {
    // A read-only home: no owner serves there anyway.
  }
  return token;
}

/** Removes the home's claim if it is still the one `token` names. */
export function releaseOwnerClaim(root: string, token: string | undefined): void {
  if (token === undefined || token === "") return;
  const path = ownerClaimOf(root);
  const found = readClaim(path);
  if (found?.claim?.token !== token) return;
  try {
    if (statSync(path).ino === found.inode) unlinkSync(path);
  } catch {
    // Gone already.
  }
}

/**
 * Starts the home's owner in the background (detached, output discarded)
 * for the next command, unless a live process already claims the home (an
 * owner starting or serving). Synchronous: a few small file operations and
 * a spawn, so it is done before the command's process exits; never fails
 * (commands work without an owner).
 */
export function startOwner(root: string): void {
  if (ownerDisabled() || process.argv[1] === undefined) return;
  const path = ownerClaimOf(root);
  const token = randomBytes(12).toString("hex");
  try {
    if (!takeClaim(path, token)) return;
  } catch {
    return;
  }
  try {
    const child = spawn(process.execPath, [process.argv[1], "owner"], {
      detached: true,
      stdio: "ignore",
      // Not the caller's directory, which the owner would otherwise keep in use.
      cwd: root,
      env: { ...process.env, CANON_HOME: root, [CLAIM_TOKEN_ENV]: token },
    });
    child.on("error", () => {});
    child.unref();
    if (child.pid === undefined) {
      releaseOwnerClaim(root, token);
      return;
    }
    // From now on the claim names the owner starting, not this command, which exits.
    // Only if it is still this claim: the owner may have named itself already (same
    // token, same process), or found the home taken and removed it.
    const temporary = writeBeside(path, child.pid, token);
    try {
      if (readClaim(path)?.claim?.token === token) renameSync(temporary, path);
    } finally {
      unlinkQuietly(temporary);
    }
  } catch {
    releaseOwnerClaim(root, token);
  }
}
