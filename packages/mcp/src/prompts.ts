import { resolveRendered } from "@canon/store";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  ErrorCode,
  GetPromptRequestSchema,
  type GetPromptResult,
  ListPromptsRequestSchema,
  McpError,
} from "@modelcontextprotocol/sdk/types.js";
import { listPage } from "./list-page.js";
import { toMcpError } from "./mcp-error.js";
import { fileUri } from "./resource-uri.js";
import { metadataOf, type ResourceSource } from "./resources.js";

/** Registers the prompt handlers: each served standard is also a prompt of the same name. */
export function registerPrompts(server: Server, source: ResourceSource): void {
  server.setRequestHandler(ListPromptsRequestSchema, async (request) => {
    const prompts = source.current().standards.map((served) => ({
      name: served.standard,
      title: `${served.standard} v${served.rendered.version}`,
      description: `The rendered context of ${served.standard} (version ${served.rendered.version}, with ${served.rendered.corrections.length} correction(s) in force)${served.files.length > 0 ? `; its ${served.files.length} file(s) as embedded resources` : ""}`,
      _meta: metadataOf(served),
    }));
    const { page, nextCursor } = listPage(prompts, request.params?.cursor);
    return { prompts: page, ...(nextCursor === undefined ? {} : { nextCursor }) };
  });
  server.setRequestHandler(GetPromptRequestSchema, async (request) => {
    try {
      return await getPrompt(source, request.params.name);
    } catch (error) {
      throw toMcpError(error);
    }
  });
}

/**
 * One standard as a prompt: a user message holding its rendered context;
 * a bundle's files follow as embedded resources.
 * @throws McpError InvalidParams for a name that is not served.
 */
async function getPrompt(source: ResourceSource, name: string): Promise<GetPromptResult> {
  const context = source.current();
  const served = context.standards.find((entry) => entry.standard === name);
  if (served === undefined)
    throw new McpError(
      ErrorCode.InvalidParams,
      `no prompt ${JSON.stringify(name.slice(0, 200))}: this server serves ${context.standards.length} standard(s) (prompts/list names them)`,
      { code: "UNKNOWN_STANDARD" },
    );
  const rendered = await resolveRendered(source.home, {
    space: context.space,
    standard: name,
    selector: served.selector,
  });
  const text = new TextDecoder().decode(rendered.content);
  const messages: GetPromptResult["messages"] = [];
  if (served.files.length === 0 || text.length > 0)
    messages.push({ role: "user", content: { type: "text", text } });
  for (const path of served.files)
    messages.push({
      role: "user",
      content: { type: "resource_link", uri: fileUri(name, path), name: `${name}/${path}` },
    });
  return {
    description: `${name} version ${rendered.version} (release ${rendered.release})`,
    messages,
    _meta: metadataOf({ ...served, rendered }),
  };
}
