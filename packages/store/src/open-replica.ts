import type { CanonHome } from "./home/canon-home.js";
import type { Replica, ReplicaOptions } from "./replica.js";

/**
 * Opens the local replica, loading Automerge only now: commands that can
 * answer from the read index and the blob cache never pay for it.
 */
export async function openReplica(home: CanonHome, options: ReplicaOptions = {}): Promise<Replica> {
  const { Replica } = await import("./replica.js");
  return new Replica(home, options);
}
