import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onTestFinished } from "vitest";
import { canonHome, createSpace, ensureIdentity, publish } from "../../src/index.js";

/**
 * A home of its own (in a temporary folder, removed after the test) with an
 * identity, a space `test`, and each of `standards` published once (text
 * `<name> one\n`), all by this process. `file(text)` writes `text` to the
 * home's `input.md` and returns its path, for the next publish.
 */
export async function publishedHome(standards: readonly string[] = ["alpha", "beta", "gamma"]) {
  const root = await mkdtemp(join(tmpdir(), "canon-home-"));
  onTestFinished(() => rm(root, { recursive: true, force: true }));
  const home = canonHome(root);
  const signer = await ensureIdentity(home);
  const space = await createSpace(home, signer, "test");
  const file = async (text: string) => {
    const path = join(root, "input.md");
    await writeFile(path, text);
    return path;
  };
  for (const standard of standards)
    await publish(home, signer, { standard, file: await file(`${standard} one\n`) });
  return { root, home, signer, space, file };
}
