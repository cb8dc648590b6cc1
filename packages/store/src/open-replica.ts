import type { CanonHome } from "./home/canon-home.js";
import type { Replica, ReplicaOptions } from "./replica.js";

/** The replica this process holds open as its home's owner, if any. */
let held: Replica | undefined;

/**
 * Makes `replica` the one every later {@link openReplica} of its home (with
 * default options) returns, kept open for the life of the process: the
 * home's owner process runs commands against it. Undefined to stop.
 */
export function holdReplica(replica: Replica | undefined): void {
  replica?.holdOpen();
  held = replica;
}

/** The replica this process holds open for `home` as its owner (see {@link holdReplica}), if any. */
export function heldReplicaOf(home: CanonHome): Replica | undefined {
  return held !== undefined && held.home.root === home.root ? held : undefined;
}

/**
 * Opens the local replica, loading Automerge only now: commands that can
 * answer from the read index and the blob cache never pay for it. In the
 * home's owner process, the replica it holds open (see {@link holdReplica}).
 */
export async function openReplica(home: CanonHome, options: ReplicaOptions = {}): Promise<Replica> {
  if (held !== undefined && held.home.root === home.root && Object.keys(options).length === 0)
    return held;
  const { Replica } = await import("./replica.js");
  return new Replica(home, options);
}
