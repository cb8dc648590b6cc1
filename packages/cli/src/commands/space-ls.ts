import { readConfig } from "@canon/store";
import { home } from "../context.js";
import { type GlobalOptions, print, syncNote } from "../output.js";

/**
 * `canon space ls [--show-tokens]`: the spaces this home knows, the default
 * marked. Relay tokens are secrets, and listings get pasted into issues and
 * logs: `--json` shows each relay's token only with `--show-tokens` (else
 * `token: null` and `hasToken`), and the human listing never shows one.
 */
export async function run(options: GlobalOptions & { showTokens?: boolean }): Promise<void> {
  const config = await readConfig(home());
  const spaces = Object.entries(config.spaces).map(([url, entry]) => ({
    url,
    ...entry,
    relays: entry.relays.map((relay) => ({
      url: relay.url,
      token: options.showTokens ? relay.token : null,
      hasToken: relay.token !== null,
    })),
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
