// Set-up shared by the benchmarks that build a large space in process: the
// built packages, a home whose space holds one standard (`style`) to write
// records into, and what a fold of that space takes as input.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root folder. */
export const root = fileURLToPath(new URL("..", import.meta.url));
/** The built CLI's entry point. */
export const bin = join(root, "packages/cli/dist/canon.cjs");
/** Preloaded into a CLI run (`--require`): reports on stderr whether the process loaded Automerge. */
export const probe = join(root, "test/helpers/automerge-probe.cjs");

/**
 * The built core and store packages, a new temporary folder `work` (named
 * `canon-bench-<name>-…`; the caller removes it), and in `work/home` a home
 * with an identity and a space `bench` holding `style`, published from
 * `work/style.md` holding `text`.
 */
export async function styleSpace(name, text = "# Style\n") {
  const core = await import(join(root, "packages/core/dist/index.js"));
  const store = await import(join(root, "packages/store/dist/index.js"));
  const work = await mkdtemp(join(tmpdir(), `canon-bench-${name}-`));
  try {
    const home = store.canonHome(join(work, "home"));
    const signer = await store.ensureIdentity(home);
    await store.createSpace(home, signer, "bench");
    const file = join(work, "style.md");
    await writeFile(file, text);
    await store.publish(home, signer, { standard: "style", file });
    return { core, store, work, home, signer, file };
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    throw error;
  }
}

/**
 * What core's `fold` takes for the space as a session holds it (`folded`,
 * `state` from `store.withSpace`) with its one standard's document `handle`:
 * every record of both documents, the genesis, and the standard's contents.
 */
export function foldInputOf({ state, folded }, handle) {
  const entries = [];
  for (const [cid, bytes] of Object.entries(folded.space.doc().records))
    entries.push({ cid, bytes });
  for (const [cid, bytes] of Object.entries(handle.doc().records)) entries.push({ cid, bytes });
  const contents = handle.doc().contents;
  return {
    entries,
    genesis: state.genesis.cid,
    content: (cid) => (contents[cid] ? [contents[cid]] : []),
  };
}
