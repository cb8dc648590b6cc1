/**
 * Where a home's owner process listens, and which commands go to it. Only
 * `node:` modules here: the thin client reads this before anything else
 * loads (see docs/decisions/2026-11-29-home-owner.md).
 */
import { homedir } from "node:os";
import { join, resolve } from "node:path";

/** The CLI's version: an owner of another version refuses requests, and the client does the work itself. */
export const CLI_VERSION = "0.1.0";

/** The protocol's version (the same as `OWNER_PROTOCOL` in @canon/store, which the client must not load). */
export const PROTOCOL = 1;

/**
 * Set on `globalThis` by the CommonJS bin (bin.ts) when it asked the home's
 * owner and none took the command: the ES module entry then does not ask again.
 */
export const OWNER_ASKED: unique symbol = Symbol.for("canon.ownerAsked");

/** The home's root as `canonHome()` computes it, without loading @canon/store. */
export function homeRoot(): string {
  return resolve(process.env.CANON_HOME || join(homedir(), ".canon"));
}

/** The owner's socket in a home: 0600, owner only. */
export function ownerSocketOf(root: string): string {
  return join(root, "owner.sock");
}

/** The lock the owner holds for its life: one owner per home. */
export function ownerLockOf(root: string): string {
  return join(root, "owner.lock");
}

/** The owner's claim (see start-owner.ts): names the process starting or serving as the home's owner. */
export function ownerClaimOf(root: string): string {
  return join(root, "owner.claim");
}

/** The stop mark (see stop-mark.ts): a stop asked for while an owner was still starting. */
export function ownerStopMarkOf(root: string): string {
  return join(root, "owner.stop");
}

/**
 * The owner's refresh mark (see refresh-mark.ts): there while the owner
 * writes the caches for a change it received from a relay.
 */
export function refreshMarkOf(root: string): string {
  return join(root, "owner.refreshing");
}

/** True when `CANON_NO_OWNER` asks every command to do its work itself, and no owner to start. */
export function ownerDisabled(): boolean {
  const value = process.env.CANON_NO_OWNER;
  return value !== undefined && value !== "" && value !== "0";
}

/**
 * True when `argv` (after `canon`) is a command the owner runs: those that
 * write records or sync, given as files and flags only (`-` reads standard
 * input, which does not travel; help prints locally).
 */
export function isRouted(argv: readonly string[]): boolean {
  const [first, second] = argv;
  const command =
    first === "publish" ||
    first === "correct" ||
    first === "stamp" ||
    first === "sync" ||
    first === "retire" ||
    first === "unretire" ||
    first === "checkpoint"
      ? true
      : (first === "member" && (second === "add" || second === "remove")) ||
        (first === "space" && second === "settings");
  if (!command) return false;
  return !argv.some((arg) => arg === "-" || arg === "--help" || arg === "-h");
}
