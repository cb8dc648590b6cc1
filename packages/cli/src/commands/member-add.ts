import { changeMember } from "@canon/store";
import { home, signer } from "../context.js";
import { type GlobalOptions, print } from "../output.js";

/** `canon member add <did> --role maintainer|contributor|reader`. */
export async function run(options: GlobalOptions & { role: string }, did: string): Promise<void> {
  const changed = await changeMember(home(), await signer(options), {
    did,
    role: options.role,
    space: options.space,
  });
  print(
    options,
    changed,
    () => `${changed.did} is now ${changed.role}\n  record ${changed.record}`,
  );
}
