import { AsyncLocalStorage } from "node:async_hooks";
import type { CanonHome } from "../home/canon-home.js";
import { withHomeLock } from "../home/home-lock.js";

/** Work a command left for after its answer: rewriting caches that nothing durable depends on. */
export type AfterAnswer = () => Promise<void>;

const deferring = new AsyncLocalStorage<AfterAnswer[]>();

/**
 * Runs `task` now, or, inside {@link collectAfterAnswer} (a command the
 * home's owner runs), once the command has answered. Only for work whose
 * loss to a crash loses nothing a command reported done: rewriting the
 * caches (verified snapshot, read index, listing, stamp index, heads, disk
 * proof), which a reader trusts only when the disk proof matches the chunk
 * files, and otherwise rebuilds from the replica. What must be durable
 * (the chunks of what a command wrote) is flushed before it answers, as
 * before. See docs/decisions/2026-11-30-round-trip.md ("Second round").
 */
export async function afterAnswer(task: AfterAnswer): Promise<void> {
  const tasks = deferring.getStore();
  if (tasks === undefined) await task();
  else tasks.push(task);
}

/**
 * Runs `work` (one command in the home's owner), collecting into `after`
 * what it leaves for {@link afterAnswer} instead of running it (also when
 * `work` throws): the owner answers, then runs them with {@link runAfterAnswer}.
 */
export function collectAfterAnswer<T>(after: AfterAnswer[], work: () => Promise<T>): Promise<T> {
  return deferring.run(after, work);
}

/**
 * Runs what a command left for after its answer, in order, holding the home
 * lock (as the command did when it would have run them), outside any
 * collection (so each runs at once). A task that fails is skipped: the
 * caches it would have written are then stale, and the next command or
 * read rebuilds them.
 */
export async function runAfterAnswer(
  home: CanonHome,
  after: readonly AfterAnswer[],
): Promise<void> {
  if (after.length === 0) return;
  await deferring.exit(() =>
    withHomeLock(home, async () => {
      for (const task of after) await task().catch(() => {});
    }),
  );
}
