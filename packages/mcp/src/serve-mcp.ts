import type { Readable, Writable } from "node:stream";
import type { CanonHome, Signer } from "@canon/store";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import {
  ErrorCode,
  McpError,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { guardedInput } from "./guarded-input.js";
import { LiveContext } from "./live-context.js";
import { PendingRequests } from "./pending-requests.js";
import { registerPrompts } from "./prompts.js";
import { registerResources } from "./resources.js";
import type { ServedScope } from "./served-context.js";
import { registerTools } from "./tools.js";

/** Most addresses one client may subscribe to. */
const MAX_SUBSCRIPTIONS = 10_000;
/** Longest address one may subscribe to. */
const MAX_URI_LENGTH = 4096;

/** What {@link serveMcp} serves, and over what. */
export interface ServeMcpOptions {
  readonly home: CanonHome;
  /** A project (its canon.json and canon.lock), or a whole space. */
  readonly scope: ServedScope;
  /** Where tool paths are resolved and must stay: the project's directory, or the working directory. */
  readonly root: string;
  /** The identity tools sign with (`--as`); the home's own when undefined. */
  readonly identity?: string | undefined;
  readonly relay?: string | undefined;
  readonly token?: string | undefined;
  /** A maintainer's identity keeps the checkpoint current while connected. */
  readonly checkpointAs?: Signer | undefined;
  /** The server's version, as `initialize` reports it. */
  readonly version: string;
  /** Protocol in (default: stdin). */
  readonly input?: Readable | undefined;
  /** Protocol out (default: stdout); nothing else may write to it. */
  readonly output?: Writable | undefined;
  /** Lines for the operator: never on the protocol stream. */
  readonly log: (line: string) => void;
  /** Stops serving when aborted. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Serves Canon over MCP on stdio until the client closes the stream (or
 * `signal` aborts): each standard's rendered context as a resource and a
 * prompt, a bundle's files through the `canon://{standard}/{path}`
 * template, `canon://status`, and the canon_* tools; subscribed resources
 * get `notifications/resources/updated`, and every client the list-changed
 * notifications, as soon as a change reaches this home.
 * @throws CanonError when the scope cannot be read at all (no canon.json, no space).
 */
export async function serveMcp(options: ServeMcpOptions): Promise<void> {
  const subscribed = new Set<string>();
  const mcp = new McpServer(
    { name: "canon", title: "Canon", version: options.version },
    {
      capabilities: {
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
      },
      instructions:
        "Canon serves this project's shared context: read each canon://<standard> resource (or prompt) before working, stamp outputs with canon_stamp, record corrections the operator gives with canon_correct. Subscribe to canon://status to hear of new releases and corrections.",
    },
  );
  const live = new LiveContext({
    home: options.home,
    scope: options.scope,
    relay: options.relay,
    token: options.token,
    checkpointAs: options.checkpointAs,
    log: options.log,
    onChange: (change) => {
      if (!mcp.isConnected()) return;
      for (const uri of change.updated)
        if (subscribed.has(uri)) void mcp.server.sendResourceUpdated({ uri }).catch(() => {});
      if (change.listChanged) {
        mcp.sendResourceListChanged();
        mcp.sendPromptListChanged();
      }
    },
  });
  await live.start();
  const source = { home: options.home, scope: options.scope, current: () => live.current() };
  registerResources(mcp.server, source);
  registerPrompts(mcp.server, source);
  registerTools(mcp, {
    ...source,
    identity: options.identity,
    root: options.root,
    changed: () => live.refresh(),
    log: options.log,
  });
  mcp.server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    const { uri } = request.params;
    if (uri.length > MAX_URI_LENGTH || !uri.startsWith("canon://"))
      throw new McpError(
        ErrorCode.InvalidParams,
        `cannot subscribe to ${uri.slice(0, 200)}: this server's resources are canon:// addresses of at most ${MAX_URI_LENGTH} characters`,
      );
    if (subscribed.size >= MAX_SUBSCRIPTIONS && !subscribed.has(uri))
      throw new McpError(
        ErrorCode.InvalidParams,
        `at most ${MAX_SUBSCRIPTIONS} subscriptions; unsubscribe from some first`,
      );
    subscribed.add(uri);
    return {};
  });
  mcp.server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    subscribed.delete(request.params.uri);
    return {};
  });
  mcp.server.onerror = (error) => options.log(`canon: mcp: ${error.message}`);

  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  const guarded = guardedInput(input, output, options.log);
  const transport = new StdioServerTransport(guarded, output);
  const pending = new PendingRequests();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    // The client closed its end: answer what it already asked, then stop.
    guarded.once("end", () => void pending.answered().then(resolve));
    options.signal?.addEventListener("abort", () => resolve(), { once: true });
  });
  await mcp.connect(transport);
  pending.watch(transport);
  try {
    await closed;
  } finally {
    await live.stop();
    await mcp.close().catch(() => {});
  }
}
