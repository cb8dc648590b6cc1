import { publicIdentity } from "../context.js";
import { type GlobalOptions, print } from "../output.js";

/** `canon id`: print the identity this command line acts as. */
export async function run(options: GlobalOptions): Promise<void> {
  const identity = await publicIdentity(options);
  print(options, identity, () => `${identity.did}  (${identity.name})`);
}
