import { createIdentity } from "@canon/store";
import { home } from "../context.js";
import { type GlobalOptions, print } from "../output.js";

/** `canon id new --name <name>`: create a named agent identity. */
export async function run(options: GlobalOptions & { name: string }): Promise<void> {
  const { identity } = await createIdentity(home(), options.name);
  print(options, identity, () => `Created identity "${identity.name}"\n${identity.did}`);
}
