import { changeMember } from "@canon/store";
import { home, signer } from "../context.js";
import { type GlobalOptions, print } from "../output.js";

/** `canon member remove <did>`: what they published before stays valid; anything after is refused. */
export async function run(options: GlobalOptions, did: string): Promise<void> {
  const changed = await changeMember(home(), await signer(options), {
    did,
    role: "removed",
    space: options.space,
  });
  print(options, changed, () => `${changed.did} removed\n  record ${changed.record}`);
}
