import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";

/** Most entries one `resources/list` or `prompts/list` answer holds; the rest follow through `nextCursor`. */
export const PAGE_SIZE = 500;

/**
 * One page of a list, MCP's way: `cursor` is the opaque string a previous
 * page's `nextCursor` gave (here, the offset), absent for the first page.
 * @throws McpError InvalidParams for a cursor this server did not give.
 */
export function listPage<T>(
  items: readonly T[],
  cursor: string | undefined,
  size = PAGE_SIZE,
): { readonly page: T[]; readonly nextCursor?: string } {
  const start = cursor === undefined ? 0 : Number(cursor);
  if (
    !Number.isSafeInteger(start) ||
    start < 0 ||
    start > items.length ||
    (cursor !== undefined && cursor !== String(start))
  )
    throw new McpError(
      ErrorCode.InvalidParams,
      `not a cursor this server gave: ${String(cursor).slice(0, 40)}`,
    );
  const end = start + size;
  return end < items.length
    ? { page: items.slice(start, end), nextCursor: String(end) }
    : { page: items.slice(start) };
}
