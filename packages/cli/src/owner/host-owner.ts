import { home } from "../context.js";
import { askOwner } from "./owner-client.js";
import { homeRoot, ownerDisabled } from "./owner-socket.js";
import { becomeOwner, type Owner } from "./serve-owner.js";

/**
 * Makes this long-running process (a watch, an MCP server) its home's owner,
 * first asking an on-demand owner to hand over; undefined when disabled or
 * not possible (another watch or server owns the home: commands then still
 * work, through it). Warns on stderr when it cannot.
 */
export async function hostOwner(): Promise<Owner | undefined> {
  if (ownerDisabled()) return undefined;
  const root = homeRoot();
  let owner = await becomeOwner(home(), {});
  for (let tries = 0; owner === undefined && tries < 2; tries++) {
    if ((await askOwner(root, { op: "stop" }, () => {})) === undefined) break;
    for (let wait = 0; owner === undefined && wait < 40; wait++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      owner = await becomeOwner(home(), {});
    }
  }
  if (owner === undefined)
    process.stderr.write(
      "canon: warning: another process owns this home; commands still work, and what they write goes out within a second\n",
    );
  return owner;
}
