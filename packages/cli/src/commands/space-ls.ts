import { readConfig } from "@canon/store";
import { home } from "../context.js";
import { type GlobalOptions, print, syncNote } from "../output.js";

/** `canon space ls`: the spaces this home knows, the default marked. */
export async function run(options: GlobalOptions): Promise<void> {
  const config = await readConfig(home());
  const spaces = Object.entries(config.spaces).map(([url, entry]) => ({
    url,
    ...entry,
    default: url === config.defaultSpace,
  }));
  print(options, { spaces }, () =>
    spaces.length === 0
      ? "No spaces yet; run `canon space create <name>`."
      : spaces
          .map((s) => `${s.default ? "*" : " "} ${s.name}\t${s.url}\t${syncNote(s.lastSyncAt)}`)
          .join("\n"),
  );
}
