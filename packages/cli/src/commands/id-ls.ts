import { listIdentities } from "@canon/store";
import { home } from "../context.js";
import { type GlobalOptions, print } from "../output.js";

/** `canon id ls`: list identities in this home. */
export async function run(options: GlobalOptions): Promise<void> {
  const identities = await listIdentities(home());
  print(options, { identities }, () =>
    identities.length === 0
      ? "No identities yet; run `canon init`."
      : identities.map((i) => `${i.name}\t${i.did}`).join("\n"),
  );
}
