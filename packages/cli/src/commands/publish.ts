import { publish } from "@canon/store";
import { home, signer } from "../context.js";
import { type GlobalOptions, print } from "../output.js";

/** `canon publish <standard> <file> [-m <message>] [--incorporates <id>...]`. */
export async function run(
  options: GlobalOptions & { message?: string; incorporates?: string[] },
  standard: string,
  file: string,
): Promise<void> {
  const published = await publish(home(), await signer(options), {
    standard,
    file,
    message: options.message,
    incorporates: options.incorporates,
    space: options.space,
  });
  const { parents, ...json } = published;
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
