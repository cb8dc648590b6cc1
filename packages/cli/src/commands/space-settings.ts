import { CanonError } from "@canon/core";
import { changeSettings } from "@canon/store";
import { home, signer } from "../context.js";
import { type GlobalOptions, print } from "../output.js";

/** `canon space settings --checkpoint-expiry <duration>`: sign new settings for the space (maintainers). */
export async function run(options: GlobalOptions & { checkpointExpiry: string }): Promise<void> {
  const changed = await changeSettings(home(), await signer(options), {
    checkpointExpirySeconds: parseDuration(options.checkpointExpiry),
    space: options.space,
  });
  print(options, changed, () =>
    [
      `Checkpoints of this space now expire ${changed.checkpointExpirySeconds} s after they are signed`,
      `  record   ${changed.cid}`,
    ].join("\n"),
  );
}

/** `90s`, `30m`, `12h`, `7d` (or plain seconds) as seconds. */
function parseDuration(text: string): number {
  const match = /^(\d{1,9})([smhd]?)$/.exec(text.trim());
  if (match === null)
    throw new CanonError(
      "BAD_ARGUMENT",
      `--checkpoint-expiry takes a duration like 30m, 12h or 7d, not ${JSON.stringify(text).slice(0, 40)}`,
    );
  const unit = { "": 1, s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as "" | "s" | "m" | "h" | "d"];
  return Number(match[1]) * unit;
}
