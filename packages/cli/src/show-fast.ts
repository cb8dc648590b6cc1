/**
 * The agent's start-up read, `canon show <standard>[@<version|cid>]`,
 * answered from the read index and blob cache in CommonJS
 * (`dist/show.cjs`, loaded by the bin, bin.ts): Node's ES module loader
 * costs the entry and each of the nine chunks of this path more than the
 * read itself. Only the case with nothing to add is answered here: a file
 * (not a bundle) the index resolves with certainty, fresh or unproven. Any
 * other case (no index, a stale one, a bundle, a checkpoint that proves the
 * view incomplete or expired, an error) prints nothing here and goes on in
 * `canon.mjs`, which answers it as before. See
 * docs/decisions/2026-11-30-round-trip.md ("Second round").
 */
import { canonHome, parseStandardReference, readFromIndex } from "@canon/store";
import { isBundleCid } from "./plain-show.js";

/**
 * Prints the exact bytes `reference` names from the read index; resolves
 * false, having printed nothing, when the full path must answer.
 */
export async function showFromIndex(
  reference: string,
  space: string | undefined,
): Promise<boolean> {
  let content: Uint8Array;
  try {
    const { standard, selector } = parseStandardReference(reference);
    const fast = await readFromIndex(canonHome(), { standard, selector, space });
    if (fast === undefined || isBundleCid(fast.cid)) return false;
    if (fast.freshness.status !== "fresh" && fast.freshness.status !== "unproven") return false;
    content = fast.content;
  } catch {
    // The full path says what is wrong, with the documented exit status.
    return false;
  }
  process.stdout.write(content);
  return true;
}
