import { createSpace } from "@canon/store";
import { home, signer } from "../context.js";
import { type GlobalOptions, print } from "../output.js";

/** `canon space create <name> [--force]`: create a space and make it the default. */
export async function run(
  options: GlobalOptions & { force?: boolean },
  name: string,
): Promise<void> {
  const created = await createSpace(home(), await signer(options), name, { force: options.force });
  print(
    options,
    { url: created.url, name: created.name, genesis: created.genesis },
    () => `Created space "${created.name}" (now the default)\n${created.url}`,
  );
}
