import { writeCheckpoint } from "@canon/store";
import { home, signer } from "../context.js";
import { type GlobalOptions, print } from "../output.js";

/** `canon checkpoint`: sign a checkpoint of the space now (maintainers; syncs do it when one is due). */
export async function run(options: GlobalOptions): Promise<void> {
  const written = await writeCheckpoint(home(), await signer(options), { space: options.space });
  print(options, written, () =>
    [
      `Signed a checkpoint of ${written.standards} standard(s); it goes out with the next sync`,
      `  record   ${written.cid}`,
      `  pages    ${written.pages} (${written.pagesSigned} signed now, the others unchanged)`,
      `  expires  ${written.expires}`,
    ].join("\n"),
  );
}
