/**
 * The thin client: runs a command through the home's owner process when one
 * answers, before commander, zod or Automerge are loaded. Only `node:`
 * modules. Returns undefined whenever the command should do the work itself:
 * no owner, a stale socket, a socket of another user, an owner that does not
 * accept within {@link ACCEPT_TIMEOUT_MS}, or one of another version. With no
 * owner answering, starts one in the background for the next command.
 */
import { spawn } from "node:child_process";
import { lstatSync } from "node:fs";
import { connect } from "node:net";
import { CLI_VERSION, homeRoot, ownerDisabled, ownerSocketOf, PROTOCOL } from "./owner-socket.js";

/** How long an owner has to accept a request before the command does the work itself. */
export const ACCEPT_TIMEOUT_MS = 2_000;
/** An owner that accepted sends a heartbeat every second; this much silence means it died or hung. */
const SILENCE_TIMEOUT_MS = 15_000;
/** Longest frame the client reads from the owner. */
const MAX_FRAME_BYTES = 4 * 1024 * 1024;

type Frame =
  | { t: "accepted" }
  | { t: "refused"; reason: string }
  | { t: "alive" }
  | { t: "out" | "err"; d: string }
  | { t: "exit"; code: number };

function parseFrame(line: string): Frame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const frame = value as Record<string, unknown>;
  switch (frame.t) {
    case "accepted":
    case "alive":
      return { t: frame.t };
    case "refused":
      return { t: "refused", reason: String(frame.reason ?? "") };
    case "out":
    case "err":
      return typeof frame.d === "string" ? { t: frame.t, d: frame.d } : undefined;
    case "exit":
      return Number.isInteger(frame.code) &&
        (frame.code as number) >= 0 &&
        (frame.code as number) < 256
        ? { t: "exit", code: frame.code as number }
        : undefined;
    default:
      return undefined;
  }
}

/** Starts the home's owner in the background (detached, output discarded), for the next command. */
export function startOwner(root: string): void {
  if (ownerDisabled() || process.argv[1] === undefined) return;
  try {
    const child = spawn(process.execPath, [process.argv[1], "owner"], {
      detached: true,
      stdio: "ignore",
      // Not the caller's directory, which the owner would otherwise keep in use.
      cwd: root,
      env: { ...process.env, CANON_HOME: root },
    });
    child.on("error", () => {});
    child.unref();
  } catch {
    // Nothing to do: commands work without an owner.
  }
}

/**
 * Sends `request` to the owner of the home at `root`; resolves with the exit
 * status once it ran the command, or undefined when it did not take it.
 */
export async function askOwner(
  root: string,
  request: Record<string, unknown>,
  onFrame: (frame: Frame) => void = relay,
): Promise<number | undefined> {
  const path = ownerSocketOf(root);
  let stats: ReturnType<typeof lstatSync>;
  try {
    stats = lstatSync(path);
  } catch {
    return undefined;
  }
  // Another user's socket, or not a socket at all: never talk to it.
  if (!stats.isSocket() || (process.getuid && stats.uid !== process.getuid())) return undefined;
  return new Promise((resolve) => {
    const socket = connect(path);
    let accepted = false;
    let settled = false;
    let buffered = "";
    const finish = (code: number | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(code);
    };
    let timer = setTimeout(() => finish(undefined), ACCEPT_TIMEOUT_MS);
    const lost = () => {
      if (!accepted) return finish(undefined);
      process.stderr.write(
        "canon: the owner process stopped answering mid-command; it may or may not have finished: check with `canon log` (CANON_NO_OWNER=1 runs commands without it)\n",
      );
      finish(1);
    };
    socket.on("error", () => lost());
    socket.on("close", () => lost());
    socket.on("connect", () => {
      socket.write(`${JSON.stringify({ v: PROTOCOL, version: CLI_VERSION, ...request })}\n`);
    });
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_FRAME_BYTES && !buffered.includes("\n")) return lost();
      for (let at = buffered.indexOf("\n"); at >= 0; at = buffered.indexOf("\n")) {
        const frame = parseFrame(buffered.slice(0, at));
        buffered = buffered.slice(at + 1);
        if (frame === undefined) return lost();
        if (frame.t === "refused") return finish(undefined);
        if (frame.t === "exit") return finish(frame.code);
        // Only now, and only once, is the owner told to go: a client that gave up
        // waiting never sent it, so the owner never runs a command twice over.
        if (frame.t === "accepted" && !accepted) {
          accepted = true;
          socket.write("go\n");
        }
        clearTimeout(timer);
        timer = setTimeout(lost, SILENCE_TIMEOUT_MS);
        onFrame(frame);
      }
    });
  });
}

function relay(frame: Frame): void {
  if (frame.t === "out") process.stdout.write(frame.d);
  else if (frame.t === "err") process.stderr.write(frame.d);
}

/** The home whose owner did not answer, to start one once this process's own run succeeded. */
let wanted: string | undefined;

/**
 * Runs `argv` (after `canon`) through the home's owner: its exit status, or
 * undefined when this process should do the work itself (then call
 * {@link startWantedOwner} once it did, so an owner starts for the next command).
 */
export async function runThroughOwner(argv: readonly string[]): Promise<number | undefined> {
  const root = homeRoot();
  const code = await askOwner(root, { op: "run", argv: [...argv], cwd: process.cwd() });
  if (code === undefined) wanted = root;
  return code;
}

/**
 * Starts the owner {@link runThroughOwner} found missing, in the background,
 * when the command that ran here instead succeeded: one that failed (a typo,
 * a missing file, an unreachable relay) leaves no process behind.
 */
export function startWantedOwner(succeeded: boolean): void {
  const root = wanted;
  wanted = undefined;
  if (root !== undefined && succeeded) startOwner(root);
}
