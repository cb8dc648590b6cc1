import { type CanonErrorCode, isCanonError } from "@canon/core";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";

/** The JSON-RPC code MCP gives a resource that does not exist. */
export const RESOURCE_NOT_FOUND = -32002;

const NOT_FOUND: readonly CanonErrorCode[] = [
  "UNKNOWN_STANDARD",
  "UNKNOWN_VERSION",
  "UNKNOWN_CORRECTION",
  "UNKNOWN_SPACE",
  "NO_SPACE",
  "FILE_UNREADABLE",
];

/**
 * A failure as an MCP (JSON-RPC) error: Canon's message for people, its code
 * in `data.code` (`UNKNOWN_STANDARD`, `NO_IDENTITY`, `NOT_A_MEMBER`,
 * `RELAY_UNREACHABLE`, ...). Anything not a CanonError is an internal error
 * whose message still says what failed.
 */
export function toMcpError(error: unknown): McpError {
  if (error instanceof McpError) return error;
  if (isCanonError(error)) {
    const code = NOT_FOUND.includes(error.code)
      ? RESOURCE_NOT_FOUND
      : error.code.startsWith("BAD_")
        ? ErrorCode.InvalidParams
        : ErrorCode.InternalError;
    return new McpError(code, error.message, { code: error.code });
  }
  return new McpError(
    ErrorCode.InternalError,
    `canon failed unexpectedly: ${error instanceof Error ? error.message : String(error)}`,
  );
}

/** A failure as a tool's error result: the model reads the message and the code. */
export function toolError(error: unknown) {
  const code = isCanonError(error) ? error.code : "UNEXPECTED";
  const message = error instanceof Error ? error.message : String(error);
  return {
    isError: true,
    content: [{ type: "text" as const, text: `canon: ${message} (${code})` }],
    _meta: { canon: { code } },
  };
}
