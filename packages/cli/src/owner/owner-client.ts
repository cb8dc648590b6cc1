/**
 * The thin client: runs a command through the home's owner process when one
 * answers, before commander, zod or Automerge are loaded. Only `node:`
 * modules. Returns undefined whenever the command should do the work itself:
 * no owner, a stale socket, a socket of another user, an owner that does not
 * accept within {@link ACCEPT_TIMEOUT_MS}, or one of another version. The
 * entry point then runs the command here, and starts an owner in the
 * background ({@link startOwner}, start-owner.ts: one however many commands ask) for the next command once
 * this one succeeded: a command that failed (a mistyped flag, a missing
 * file) leaves no process behind.
 */
import { lstat } from "node:fs/promises";
import { connect } from "node:net";
import { type ProcessLiveness, processLiveness } from "@canon/store";
import { CLI_VERSION, homeRoot, ownerSocketOf, PROTOCOL } from "./owner-socket.js";
import { startOwner } from "./start-owner.js";

export { startOwner };

/** How long an owner has to accept a request before the command does the work itself. */
export const ACCEPT_TIMEOUT_MS = 2_000;
/**
 * An owner that accepted sends a heartbeat every second, but not while its
 * event loop is blocked by synchronous work (loading and folding a large
 * space). After this much silence the client looks at the owner's process.
 */
const LATE_HEARTBEAT_MS = 3_000;
/** How often a client whose owner is silent looks at its process again. */
const LIVENESS_CHECK_MS = 1_000;
/** How long after its connection ended an owner's process may take to be seen gone. */
const EXIT_SEEN_MS = 1_000;
/** Silence from an owner that did not say its pid (it should): it is taken to have died or hung. */
const SILENCE_TIMEOUT_MS = 15_000;
/** After this much silence, the client says on stderr that it is still waiting for a busy owner. */
const BUSY_NOTICE_MS = 15_000;
/** Longest silence waited for from an owner that is alive and running: beyond it, it is taken to be hung. */
const MAX_BUSY_SILENCE_MS = 10 * 60_000;
/** Longest frame the client reads from the owner. */
const MAX_FRAME_BYTES = 4 * 1024 * 1024;

type Frame =
  | { t: "accepted"; pid?: number }
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
      if (frame.pid === undefined) return { t: "accepted" };
      return Number.isSafeInteger(frame.pid) && (frame.pid as number) > 0
        ? { t: "accepted", pid: frame.pid as number }
        : undefined;
    case "alive":
      return { t: "alive" };
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

/** What a silent owner's process is doing (see {@link processLiveness}). */
export type OwnerLiveness = ProcessLiveness;

/**
 * Looks at the owner's process: `gone`, `stopped` (it will not answer until
 * someone resumes it) or `running`, as {@link processLiveness} says.
 */
export function ownerLiveness(pid: number): OwnerLiveness {
  return processLiveness(pid);
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
  // NODE_20_SOCKET_STAT: never `lstatSync`/`statSync` a socket in a process
  // that loads modules afterwards. Node 20's `realpathSync` (which its ES
  // module resolver runs with a cache) reads the type of the last synchronous
  // stat when a path prefix is cached: after a socket it stops resolving
  // links, so a command that fell back from a dead owner loaded
  // `@automerge/automerge` through pnpm's link and `/slim` through the real
  // path, two instances, one never initialised ("Automerge.use() not called").
  // Asynchronous stats leave that state alone.
  let stats: Awaited<ReturnType<typeof lstat>>;
  try {
    stats = await lstat(path);
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
    let pid: number | undefined;
    let lastHeard = Date.now();
    let noticed = false;
    // The socket closing after the exit frame (or after a refusal) is the end of a
    // normal exchange, as when a watch asks an idle owner to hand over: nothing to say.
    const lost = (why = "stopped answering mid-command") => {
      if (settled) return;
      if (!accepted) return finish(undefined);
      process.stderr.write(
        `canon: the owner process${pid === undefined ? "" : ` (pid ${pid})`} ${why}; it may or may not have finished: check with \`canon log\` (CANON_NO_OWNER=1 runs commands without it)\n`,
      );
      finish(1);
    };
    // A late heartbeat is not a dead owner: one busy on the CPU cannot send any.
    // Wait for it while its process is alive and running; give up at once when
    // it is gone or stopped, and after MAX_BUSY_SILENCE_MS in any case.
    const checkSilence = () => {
      if (settled) return;
      const silent = Date.now() - lastHeard;
      if (pid === undefined) {
        if (silent >= SILENCE_TIMEOUT_MS)
          return lost(`sent nothing for ${Math.round(silent / 1000)} s`);
      } else {
        const liveness = ownerLiveness(pid);
        if (liveness === "gone") return lost("exited mid-command");
        if (liveness === "stopped")
          return lost(
            `is stopped (SIGSTOP or a debugger) mid-command and sent nothing for ${Math.round(silent / 1000)} s`,
          );
        if (silent >= MAX_BUSY_SILENCE_MS)
          return lost(`is running but sent nothing for ${Math.round(silent / 1000)} s (hung?)`);
        if (silent >= BUSY_NOTICE_MS && !noticed) {
          noticed = true;
          process.stderr.write(
            `canon: the owner process (pid ${pid}) is busy and has not answered for ${Math.round(silent / 1000)} s; still waiting for it\n`,
          );
        }
      }
      timer = setTimeout(checkSilence, LIVENESS_CHECK_MS);
    };
    // A connection that ends before the exit frame: say whether the owner's process is
    // gone (killed, crashed). A killed process closes its sockets a moment before it is
    // seen to exit, so look a few times over up to EXIT_SEEN_MS before saying it did not.
    let ending = false;
    const ended = () => {
      if (ending) return;
      ending = true;
      if (settled || !accepted || pid === undefined) return lost();
      const owner = pid;
      const giveUpAt = Date.now() + EXIT_SEEN_MS;
      const look = () => {
        if (ownerLiveness(owner) === "gone") return lost("exited mid-command (killed or crashed)");
        if (Date.now() >= giveUpAt) return lost();
        clearTimeout(timer);
        timer = setTimeout(look, 20);
      };
      look();
    };
    socket.on("error", ended);
    socket.on("close", ended);
    socket.on("connect", () => {
      socket.write(`${JSON.stringify({ v: PROTOCOL, version: CLI_VERSION, ...request })}\n`);
    });
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_FRAME_BYTES && !buffered.includes("\n"))
        return lost("sent a frame too long mid-command");
      for (let at = buffered.indexOf("\n"); at >= 0; at = buffered.indexOf("\n")) {
        const frame = parseFrame(buffered.slice(0, at));
        buffered = buffered.slice(at + 1);
        if (frame === undefined) return lost("sent a malformed frame mid-command");
        if (frame.t === "refused") return finish(undefined);
        if (frame.t === "exit") return finish(frame.code);
        // Only now, and only once, is the owner told to go: a client that gave up
        // waiting never sent it, so the owner never runs a command twice over.
        if (frame.t === "accepted" && !accepted) {
          accepted = true;
          pid = frame.pid;
          socket.write("go\n");
        }
        lastHeard = Date.now();
        clearTimeout(timer);
        timer = setTimeout(checkSilence, LATE_HEARTBEAT_MS);
        onFrame(frame);
      }
    });
  });
}

function relay(frame: Frame): void {
  if (frame.t === "out") process.stdout.write(frame.d);
  else if (frame.t === "err") process.stderr.write(frame.d);
}

/**
 * Runs `argv` (after `canon`) through the home's owner: its exit status, or
 * undefined when this process should do the work itself.
 */
export async function runThroughOwner(argv: readonly string[]): Promise<number | undefined> {
  return askOwner(homeRoot(), { op: "run", argv: [...argv], cwd: process.cwd() });
}
