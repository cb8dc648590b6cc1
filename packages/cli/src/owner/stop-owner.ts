import { lockHolderOf } from "@canon/store";
import { askOwner } from "./owner-client.js";
import { ownerLockOf } from "./owner-socket.js";
import { setStopMark } from "./stop-mark.js";

/**
 * How long `canon owner --stop` keeps asking an owner that holds the home's
 * owner lock but does not answer: one still starting (its socket not yet
 * made), or one busy on the CPU (a fold at 1,000 standards) that cannot
 * accept within the client's 2 s. Each try gives up after 2 s.
 */
const ANSWER_WAIT_MS = 30_000;
/**
 * How long an owner that accepted the stop may take to go: it finishes the
 * command it is running (and what is queued before the stop), flushes and
 * releases its lock, which takes well under 5 s once that command is done.
 */
const EXIT_WAIT_MS = 60_000;
/** How often the owner lock is looked at again. */
const POLL_MS = 100;

/** What {@link stopOwner} did. */
export type StopOutcome =
  /** No owner process holds the home. */
  | { readonly kind: "none" }
  /** The owner accepted and has gone: its lock is released. */
  | { readonly kind: "stopped"; readonly pid: number | undefined }
  /** An owner holds the lock but never answered, or accepted and still runs: named by pid. */
  | { readonly kind: "still running"; readonly pid: number; readonly why: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Stops the owner process of the home at `root`, and returns only once it
 * has gone (its lock released), so the next command never finds it. An
 * owner that holds the lock but does not answer yet (starting, or busy on
 * the CPU) is asked again until it does, for at most {@link ANSWER_WAIT_MS}
 * (one that is stopped, SIGSTOP, is named at once):
 * before, a stop sent then was taken for "no owner" and the owner served on
 * until idle (5 minutes). When none holds the lock, the stop mark
 * (`stop-mark.ts`) stops one spawned a moment ago that has not taken it
 * yet; once an owner accepts, the mark also stops one spawned before the
 * stop that is waiting for the lock (it would take the home over), and
 * only the process that accepted is waited for. What the owner reported
 * done is on disk already; the command it runs when asked finishes first.
 */
export async function stopOwner(root: string): Promise<StopOutcome> {
  const lock = ownerLockOf(root);
  const answerBy = Date.now() + ANSWER_WAIT_MS;
  let holder = await lockHolderOf(lock);
  let accepted: number | undefined;
  for (;;) {
    const code = await askOwner(root, { op: "stop" }, (frame) => {
      if (frame.t === "accepted") accepted = frame.pid;
    });
    if (code !== undefined) break;
    holder = await lockHolderOf(lock);
    if (holder === undefined) {
      // An owner spawned a moment ago may not hold the lock yet: the mark stops it
      // once it does. Looked at again after the mark is written (the owner writes
      // its holder file, then looks for the mark), so one of the two sees the other.
      setStopMark(root);
      holder = await lockHolderOf(lock);
      if (holder === undefined) return { kind: "none" };
    }
    // A stopped process answers no one until resumed: no point waiting for it.
    if (holder.state === "stopped")
      return {
        kind: "still running",
        pid: holder.pid,
        why: "holds the home but is stopped (SIGSTOP or a debugger) and cannot answer",
      };
    if (Date.now() >= answerBy)
      return {
        kind: "still running",
        pid: holder.pid,
        why: `holds the home but did not answer for ${ANSWER_WAIT_MS / 1000} s`,
      };
    await sleep(POLL_MS);
  }
  // An owner spawned before this stop (by a command that ran without the owner) may be
  // waiting for the lock the stopping one holds: the mark stops it once it takes it.
  // Before, it took the lock over and served on, and this loop, waiting for whoever
  // held the lock, waited for it in vain for EXIT_WAIT_MS.
  setStopMark(root);
  const stopping = accepted ?? holder?.pid;
  const exitBy = Date.now() + EXIT_WAIT_MS;
  for (;;) {
    const left = await lockHolderOf(lock);
    // Gone once the lock is released, or held by another process (the one stopping on the mark).
    if (left === undefined || (stopping !== undefined && left.pid !== stopping))
      return { kind: "stopped", pid: stopping };
    if (Date.now() >= exitBy)
      return {
        kind: "still running",
        pid: left.pid,
        why: `accepted to stop but still runs after ${EXIT_WAIT_MS / 1000} s (finishing a long command?)`,
      };
    await sleep(POLL_MS);
  }
}
