import { retireStandard } from "@canon/store";
import { home, signer } from "../context.js";
import { type GlobalOptions, print } from "../output.js";

/** `canon retire <standard> -m <why>` and `canon unretire <standard>` (maintainers). */
export async function run(
  options: GlobalOptions & { message?: string; unretire?: boolean },
  standard: string,
): Promise<void> {
  const retired = await retireStandard(home(), await signer(options), {
    standard,
    retired: options.unretire !== true,
    message: options.message,
    space: options.space,
  });
  print(options, retired, () =>
    retired.retired
      ? `Retired ${standard}: gone from \`canon ls\` and default stamps; its log, pinned reads and old stamps still work`
      : `${standard} is back in \`canon ls\` and default stamps`,
  );
}
