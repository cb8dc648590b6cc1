import { newestCids } from "../newest-cids.js";
import { MAX_CORRECTION_LOG_HEADS } from "../records/checkpoint-page.js";
import type { SignedRecord } from "../signed-record.js";
import type { SpaceState } from "./space-state.js";

/** One standard as a checkpoint names it: release heads and correction-log heads, each sorted. */
export interface CheckpointEntry {
  readonly standard: string;
  readonly heads: readonly string[];
  readonly corrections: readonly string[];
}

/**
 * Every standard of the state as a checkpoint names it, sorted by name: its
 * release heads, and the heads of its correction log (its accepted
 * corrections and withdrawals that no other of them names in `previous` or
 * as the correction withdrawn; at most {@link MAX_CORRECTION_LOG_HEADS},
 * the newest). One pass over the space's contributions.
 */
export function checkpointEntries(state: SpaceState): CheckpointEntry[] {
  type Logged = SignedRecord & {
    record: { standard: string; previous?: string[] | undefined; createdAt: string };
  };
  const logs = new Map<string, Logged[]>();
  for (const signed of [...state.corrections.values(), ...state.withdrawals.values()]) {
    const log = logs.get(signed.record.standard);
    if (log === undefined) logs.set(signed.record.standard, [signed as Logged]);
    else log.push(signed as Logged);
  }
  return [...state.standards.values()].map((standard) => ({
    standard: standard.name,
    heads: standard.heads.map((head) => head.cid).sort(),
    corrections: logHeads(logs.get(standard.name) ?? []),
  }));
}

/** The records of one log that no other of them names, the newest {@link MAX_CORRECTION_LOG_HEADS}, sorted by CID. */
function logHeads(
  log: readonly (SignedRecord & {
    record: { previous?: string[] | undefined; createdAt: string; correction?: string };
  })[],
): string[] {
  if (log.length === 0) return [];
  const named = new Set<string>();
  for (const signed of log) {
    for (const cid of signed.record.previous ?? []) named.add(cid);
    if (signed.record.correction !== undefined) named.add(signed.record.correction);
  }
  return newestCids(
    log.filter((signed) => !named.has(signed.cid)),
    MAX_CORRECTION_LOG_HEADS,
  );
}
