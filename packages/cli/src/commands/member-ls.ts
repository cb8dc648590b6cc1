import { listMembers } from "@canon/store";
import { home } from "../context.js";
import { type GlobalOptions, print } from "../output.js";

/** `canon member ls`: members and roles from the verified membership chain. */
export async function run(options: GlobalOptions): Promise<void> {
  const members = await listMembers(home(), { space: options.space });
  print(options, { members }, () =>
    members.map((member) => `${member.role.padEnd(11)} ${member.did}`).join("\n"),
  );
}
