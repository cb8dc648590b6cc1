import { DEFAULT_IDENTITY, ensureIdentity } from "@canon/store";
import { home } from "../context.js";
import { type GlobalOptions, print } from "../output.js";

/** `canon init`: create the owner's identity if there is none, and print its did. */
export async function run(options: GlobalOptions): Promise<void> {
  const canonHome = home();
  const { identity, created } = await ensureIdentity(canonHome, options.as ?? DEFAULT_IDENTITY);
  print(options, { did: identity.did, name: identity.name, created, home: canonHome.root }, () =>
    created
      ? `Created identity "${identity.name}" in ${canonHome.root}\n${identity.did}`
      : `Identity "${identity.name}" already exists\n${identity.did}`,
  );
}
