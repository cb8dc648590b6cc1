import { publish } from "@canon/store";
import { home, signer } from "../context.js";
import { escapeControls, type GlobalOptions, print } from "../output.js";

/** `canon publish <standard> <file|folder> [-m <message>] [--incorporates <id>...] [--force]`. */
export async function run(
  options: GlobalOptions & { message?: string; incorporates?: string[]; force?: boolean },
  standard: string,
  file: string,
): Promise<void> {
  const published = await publish(home(), await signer(options), {
    standard,
    file,
    message: options.message,
    incorporates: options.incorporates,
    force: options.force === true,
    space: options.space,
  });
  const { parents, ...json } = published;
  if (published.unchanged) {
    print(options, json, () =>
      escapeControls(
        `unchanged: ${published.standard} is already ${published.cid} at version ${published.version} (--force publishes it again)`,
      ),
    );
    return;
  }
  print(options, json, () =>
    [
      `Published ${published.standard}@${published.version}`,
      `  content  ${published.cid}`,
      `  release  ${published.release}`,
      ...(parents.length > 1 ? [`  merges   ${parents.length} heads (fork resolved)`] : []),
      ...published.incorporates.map((cid) => `  closes   correction ${cid}`),
    ].join("\n"),
  );
}
