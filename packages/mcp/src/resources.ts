import { CanonError } from "@canon/core";
import { type CanonHome, type RenderedRelease, resolveFiles, resolveRendered } from "@canon/store";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  type ReadResourceResult,
  type Resource,
} from "@modelcontextprotocol/sdk/types.js";
import { listPage } from "./list-page.js";
import { RESOURCE_NOT_FOUND, toMcpError } from "./mcp-error.js";
import {
  FILE_URI_TEMPLATE,
  fileUri,
  parseResourceUri,
  standardUri,
  statusUri,
} from "./resource-uri.js";
import {
  type ServedContext,
  type ServedScope,
  type ServedStandard,
  statusOf,
} from "./served-context.js";

/** Where resources come from: the home, and what is served now. */
export interface ResourceSource {
  readonly home: CanonHome;
  readonly scope: ServedScope;
  /** What is served now (kept current by the live updates). */
  current(): ServedContext;
}

/** A standard's metadata, as resources and prompts carry it under `_meta.canon`. */
export function metadataOf(served: ServedStandard) {
  const { rendered } = served;
  return {
    canon: {
      standard: served.standard,
      version: rendered.version,
      releaseCid: rendered.release,
      contentCid: rendered.cid,
      renderedCid: rendered.renderedCid,
      corrections: rendered.corrections,
      latestVersion: served.latestVersion,
      pinned: served.selector !== undefined,
      lastSync: rendered.lastSync,
    },
  };
}

/** Lists `canon://status`, each standard's rendered context and each bundle file. */
export function listResources(context: ServedContext): Resource[] {
  const resources: Resource[] = [
    {
      uri: statusUri(new Set(context.standards.map((served) => served.standard))),
      name: "status",
      title:
        context.scope.kind === "project" ? "Project status (canon status --json)" : "Space status",
      description:
        context.scope.kind === "project"
          ? "Each standard of canon.json: current, behind, modified, missing, forked or unknown."
          : "Each standard of the space with its latest version.",
      mimeType: "application/json",
    },
  ];
  for (const served of context.standards) {
    const { rendered } = served;
    const behind =
      served.latestVersion > rendered.version
        ? `; version ${served.latestVersion} is available (canon_pull)`
        : "";
    resources.push({
      uri: standardUri(served.standard),
      name: served.standard,
      title: `${served.standard} v${rendered.version}`,
      description: `${served.standard} version ${rendered.version} (release ${rendered.release}, content ${rendered.cid}) rendered with ${rendered.corrections.length} correction(s) in force${behind}`,
      mimeType: "text/markdown",
      size: rendered.content.byteLength,
      _meta: metadataOf(served),
    });
    for (const path of served.files)
      resources.push({
        uri: fileUri(served.standard, path),
        name: `${served.standard}/${path}`,
        title: `${path} of ${served.standard} v${rendered.version}`,
        mimeType: mimeTypeOf(path),
        _meta: metadataOf(served),
      });
  }
  return resources;
}

/** Registers the resource handlers on `server` (which must declare the resources capability). */
export function registerResources(server: Server, source: ResourceSource): void {
  server.setRequestHandler(ListResourcesRequestSchema, async (request) => {
    const { page, nextCursor } = listPage(listResources(source.current()), request.params?.cursor);
    return { resources: page, ...(nextCursor === undefined ? {} : { nextCursor }) };
  });
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
    resourceTemplates: [
      {
        uriTemplate: FILE_URI_TEMPLATE,
        name: "bundle-file",
        title: "A file of a bundle",
        description:
          "One file of a standard published as a folder (a skill with its references and scripts), byte for byte: canon://<standard>/<path>.",
      },
    ],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, async (request) => {
    try {
      return await readResource(source, request.params.uri);
    } catch (error) {
      throw toMcpError(error);
    }
  });
}

/**
 * Reads one resource, fresh from the replica (the served context only says
 * which release the scope pins).
 * @throws McpError resource-not-found for an address naming nothing served; CanonError from the store.
 */
export async function readResource(
  source: ResourceSource,
  uri: string,
): Promise<ReadResourceResult> {
  const context = source.current();
  const standards = new Map(context.standards.map((served) => [served.standard, served]));
  const address = parseResourceUri(uri, new Set(standards.keys()));
  if (address === undefined) throw notServed(uri, context);
  if (address.kind === "status")
    return {
      contents: [
        {
          uri,
          mimeType: "application/json",
          text: `${JSON.stringify(await statusOf(source.home, source.scope), null, 2)}\n`,
        },
      ],
    };
  const served = standards.get(address.standard) as ServedStandard;
  const request = { space: context.space, standard: address.standard, selector: served.selector };
  if (address.kind === "standard") {
    const rendered: RenderedRelease = await resolveRendered(source.home, request);
    return {
      contents: [
        {
          uri,
          mimeType: "text/markdown",
          text: new TextDecoder().decode(rendered.content),
          _meta: metadataOf({ ...served, rendered }),
        },
      ],
    };
  }
  const resolved = await resolveFiles(source.home, {
    ...request,
    selector: served.rendered.release,
  });
  const file = resolved.files?.find((entry) => entry.path === address.path);
  if (file === undefined)
    throw new CanonError(
      "FILE_UNREADABLE",
      `${address.standard}@${resolved.version} has no file ${address.path}${resolved.files === null ? " (it is a single file, not a bundle)" : ""}`,
    );
  const meta = { canon: { ...metadataOf(served).canon, path: file.path, fileCid: file.cid } };
  const text = utf8(file.bytes);
  return {
    contents: [
      text === undefined
        ? {
            uri,
            mimeType: "application/octet-stream",
            blob: Buffer.from(file.bytes).toString("base64"),
            _meta: meta,
          }
        : { uri, mimeType: mimeTypeOf(file.path), text, _meta: meta },
    ],
  };
}

/** The error for an address that names nothing served, saying what is. */
function notServed(uri: string, context: ServedContext): McpError {
  const unavailable = context.unavailable.find(
    (entry) =>
      uri === standardUri(entry.standard) || uri.startsWith(`${standardUri(entry.standard)}/`),
  );
  if (unavailable)
    return new McpError(RESOURCE_NOT_FOUND, unavailable.message, { code: "UNKNOWN_STANDARD" });
  return new McpError(
    RESOURCE_NOT_FOUND,
    `no resource ${uri.slice(0, 300)}: this server serves ${statusUri(new Set(context.standards.map((served) => served.standard)))}, canon://<standard> and canon://<standard>/<path> for ${context.standards.length} standard(s) (resources/list names them)`,
    { code: "UNKNOWN_STANDARD" },
  );
}

/** The bytes as text when they are UTF-8, else undefined. */
function utf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** A file's MIME type from its extension, for clients that show it. */
function mimeTypeOf(path: string): string {
  const lower = path.toLowerCase();
  if (lower.endsWith(".md") || lower.endsWith(".mdc")) return "text/markdown";
  if (lower.endsWith(".json")) return "application/json";
  if (lower.endsWith(".yaml") || lower.endsWith(".yml")) return "application/yaml";
  if (lower.endsWith(".sh")) return "text/x-shellscript";
  if (lower.endsWith(".py")) return "text/x-python";
  if (lower.endsWith(".ts") || lower.endsWith(".js") || lower.endsWith(".mjs"))
    return "text/javascript";
  return "text/plain";
}
