import { inflateRawSync } from "node:zlib";

// Automerge encodes a change's or a document's ops column by column, each
// column run-length encoded (and, in documents, deflated past 256 bytes). A
// run says "this value, n times" in a few bytes whatever n is, so 119 bytes
// can declare a change of a million list inserts: `A.decodeChange` then
// builds a million JavaScript objects (2.7 s, 750 MB), ten million take 5 s
// and 2.5 GB before failing ("capacity overflow"), and loading a hundred
// million into a document grows the WebAssembly memory to 3.5 GB (which
// never shrinks) over 20 s. So hostile chunks are read here first, from
// their column headers and runs only (nothing is expanded), and the number
// of items their columns declare is compared with their size
// ({@link tooManyItems}) before any Automerge call sees them. The format:
// https://automerge.org/automerge-binary-format-spec/ (chunk header, change
// and document chunks, column specifications, RLE, delta and boolean columns).

const MAGIC = [0x85, 0x6f, 0x4a, 0x83] as const;
const DOCUMENT_CHUNK = 0;
const CHANGE_CHUNK = 1;
const COMPRESSED_CHANGE_CHUNK = 2;
const HASH_BYTES = 32;
/** A column's type: the spec's low three bits. */
const COLUMN_TYPE_MASK = 0x07;
/** A column whose data is deflated (documents only). */
const DEFLATE_BIT = 0x08;
const VALUE_RAW = 7;
const ULEB = 2;
/** The ops' action column's id (a spec's bits above the low four), in change and document chunks alike. */
const ACTION_COLUMN = 4;
/** Actions that make no object: set, delete, increment, mark. Any other value (the makes, 0, 2, 4, 6, or one unknown) counts as making one. */
const NOT_MAKING = new Set([1, 3, 5, 7]);
const STRING_RLE = 5;
const BOOLEAN = 4;
const DELTA = 3;

/**
 * Items (ops, changes, predecessors…) chunks may declare without regard to
 * their size: a change this small costs Automerge a few milliseconds
 * whatever it says.
 */
export const ITEMS_ALLOWANCE = 1024;

/**
 * Items chunks may declare per byte they hold, past {@link ITEMS_ALLOWANCE}.
 * Canon's ops each carry a CID or document id as their key, or their
 * value's bytes (a record, a content, a character of a name): at least a
 * byte each in a change; four leaves room for documents whose columns
 * deflate well, and keeps a hostile peer's cost per byte sent within a few
 * times that of honest data (which the byte budgets bound).
 */
export const ITEMS_PER_BYTE = 4;

/**
 * Items whole documents may declare on a client, whatever their size: a
 * relay holds documents built by many small changes, each within the
 * bounds, and sends one whole (its columns deflated: a space routing 5,000
 * standards under names of 200 similar characters declares 5.5 items a
 * byte). Four million covers a space the relay lists whole (20,000 routes of
 * 200-character names) and costs a client about a second and 150 MB to load
 * (whole documents are loaded in WebAssembly, never decoded into objects).
 */
export const CLIENT_DOCUMENT_ITEMS = 4 * 1024 * 1024;

/** Why {@link chunkItems} could not read bytes as chunks. */
class Unreadable extends Error {}

/**
 * The bytes every inflate of one {@link chunkItems} call may produce
 * together: a compressed change inflates to a body whose columns may be
 * deflated again, so a limit per inflate would let a kilobyte nest into
 * gigabytes of inflating.
 */
class InflateBudget {
  constructor(private left: number) {}

  /** `data` inflated, its size taken from what is left; {@link Unreadable} past it. */
  inflate(data: Uint8Array): Uint8Array {
    let inflated: Uint8Array;
    try {
      inflated = inflateRawSync(data, { maxOutputLength: Math.max(1, this.left) });
    } catch {
      throw new Unreadable("deflated bytes that do not inflate within the limit");
    }
    if (inflated.length > this.left) throw new Unreadable("inflating past the limit");
    this.left -= inflated.length;
    return inflated;
  }
}

/** A reader of bytes that throws {@link Unreadable} past their end. */
class Cursor {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}

  get left(): number {
    return this.bytes.length - this.offset;
  }

  byte(): number {
    if (this.offset >= this.bytes.length) throw new Unreadable("past the end");
    return this.bytes[this.offset++] as number;
  }

  skip(count: number): void {
    if (count > this.left) throw new Unreadable("past the end");
    this.offset += count;
  }

  take(count: number): Uint8Array {
    if (count > this.left) throw new Unreadable("past the end");
    const taken = this.bytes.subarray(this.offset, this.offset + count);
    this.offset += count;
    return taken;
  }

  /** An unsigned LEB128 (at most 10 bytes), as a number (exact to 2^53). */
  uleb(): number {
    let value = 0;
    let scale = 1;
    for (let read = 0; read < 10; read++) {
      const byte = this.byte();
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return value;
      scale *= 128;
    }
    throw new Unreadable("LEB128 over 10 bytes");
  }

  /** A signed LEB128 (at most 10 bytes), as a number. */
  sleb(): number {
    let value = 0;
    let scale = 1;
    for (let read = 0; read < 10; read++) {
      const byte = this.byte();
      value += (byte & 0x7f) * scale;
      scale *= 128;
      if ((byte & 0x80) === 0) return (byte & 0x40) !== 0 ? value - scale : value;
    }
    throw new Unreadable("LEB128 over 10 bytes");
  }
}

/** How many values a column of `type` declares, read from its runs without expanding them. */
function columnItems(data: Uint8Array, type: number): number {
  const cursor = new Cursor(data);
  let items = 0;
  if (type === BOOLEAN) {
    // Alternating counts of false and true.
    while (cursor.left > 0) items += cursor.uleb();
    return items;
  }
  const skipValue =
    type === STRING_RLE
      ? () => cursor.skip(cursor.uleb())
      : type === DELTA
        ? () => cursor.sleb()
        : () => cursor.uleb();
  while (cursor.left > 0) {
    const count = cursor.sleb();
    if (count > 0) {
      // A run: one value, `count` times.
      items += count;
      skipValue();
    } else if (count < 0) {
      // A literal run: `-count` values.
      items += -count;
      for (let index = 0; index < -count; index++) skipValue();
    } else {
      // A null run: its length.
      items += cursor.uleb();
    }
  }
  return items;
}

/**
 * How many values of an action column (unsigned LEB128, run-length
 * encoded) may make an object: every value but the four actions that make
 * none ({@link NOT_MAKING}), a null counting as one that may.
 */
function makingActions(data: Uint8Array): number {
  const cursor = new Cursor(data);
  let making = 0;
  while (cursor.left > 0) {
    const count = cursor.sleb();
    if (count > 0) {
      if (!NOT_MAKING.has(cursor.uleb())) making += count;
    } else if (count < 0) {
      for (let index = 0; index < -count; index++) if (!NOT_MAKING.has(cursor.uleb())) making += 1;
    } else making += cursor.uleb();
  }
  return making;
}

/** What {@link columnsItems} read of one chunk's columns. */
interface ColumnsRead {
  /** The largest count of values any column declares. */
  readonly most: number;
  /** Values of the action column that may make an object (Infinity when that column is missing or not as the format has it, and there are ops). */
  readonly making: number;
}

/**
 * The largest count of values any column of `columns` declares (each
 * column's data follows the last, from `cursor`), and how many of the ops
 * may make an object ({@link makingActions}). Deflated columns are
 * inflated within `budget` (past it, the chunk is unreadable).
 */
function columnsItems(
  cursor: Cursor,
  columns: readonly (readonly [spec: number, length: number])[],
  budget: InflateBudget,
): ColumnsRead {
  let most = 0;
  let making: number | undefined;
  for (const [spec, length] of columns) {
    let data = cursor.take(length);
    const type = spec & COLUMN_TYPE_MASK;
    if (type === VALUE_RAW) continue;
    if ((spec & DEFLATE_BIT) !== 0) data = budget.inflate(data);
    most = Math.max(most, columnItems(data, type));
    if (Math.floor(spec / 16) === ACTION_COLUMN)
      making = type === ULEB && making === undefined ? makingActions(data) : Infinity;
  }
  return { most, making: making ?? (most > 0 ? Infinity : 0) };
}

function columnSpecs(cursor: Cursor): [number, number][] {
  const count = cursor.uleb();
  if (count > cursor.left) throw new Unreadable("more columns than bytes");
  const columns: [number, number][] = [];
  for (let index = 0; index < count; index++) columns.push([cursor.uleb(), cursor.uleb()]);
  return columns;
}

function skipActors(cursor: Cursor): void {
  const count = cursor.uleb();
  if (count > cursor.left) throw new Unreadable("more actors than bytes");
  for (let index = 0; index < count; index++) cursor.skip(cursor.uleb());
}

function skipHashes(cursor: Cursor): void {
  const count = cursor.uleb();
  if (count > cursor.left) throw new Unreadable("more hashes than bytes");
  cursor.skip(count * HASH_BYTES);
}

/** The items a change chunk's body declares, and its ops that may make an object. */
function changeItems(body: Uint8Array, budget: InflateBudget): ColumnsRead {
  const cursor = new Cursor(body);
  skipHashes(cursor); // dependencies
  cursor.skip(cursor.uleb()); // actor
  cursor.uleb(); // seq
  cursor.uleb(); // start op
  cursor.sleb(); // time
  cursor.skip(cursor.uleb()); // message
  skipActors(cursor); // other actors
  return columnsItems(cursor, columnSpecs(cursor), budget);
}

/** The items a document chunk's body declares (its changes' columns and its ops'), and its ops that may make an object. */
function documentItems(body: Uint8Array, budget: InflateBudget): ColumnsRead {
  const cursor = new Cursor(body);
  skipActors(cursor);
  skipHashes(cursor); // heads
  const changeColumns = columnSpecs(cursor);
  const opColumns = columnSpecs(cursor);
  const changes = columnsItems(cursor, changeColumns, budget);
  const ops = columnsItems(cursor, opColumns, budget);
  return { most: Math.max(changes.most, ops.most), making: ops.making };
}

/** What {@link chunkItems} counted: in change chunks, and in whole documents. */
export interface ChunkItems {
  readonly changes: number;
  readonly documents: number;
  /**
   * Ops of all the chunks that may make an object (a map, list, text or
   * table), an upper bound on the objects the bytes hold: each object is
   * made by one op, so objects cannot nest deeper than this. Counted from
   * the action columns (any action but set, delete, increment and mark, or
   * a null, counts); Infinity when a chunk with ops has no such column, or
   * one not as the format has it.
   */
  readonly making: number;
}

/**
 * Reads `bytes` as Automerge chunks one after the other (a saved document,
 * a change, or several concatenated, as Automerge's `load` and
 * `loadIncremental` take them) and adds up, chunk by chunk, the largest
 * count of values any of its columns declares (a bound on the ops, changes
 * and predecessors Automerge would build from them), for changes and for
 * whole documents apart. Reads headers and runs
 * only, never expanding a run; deflated columns and compressed changes
 * are inflated to at most `maxInflated` bytes in all. Stops at the first
 * bytes that do not start a chunk (Automerge ignores or refuses those, and
 * builds nothing from them). Undefined when a chunk's header promises more
 * than it holds, or its columns do not read (a malformed or oversized
 * chunk: not safe to hand to Automerge). Never throws.
 */
export function chunkItems(bytes: Uint8Array, maxInflated: number): ChunkItems | undefined {
  const cursor = new Cursor(bytes);
  const budget = new InflateBudget(maxInflated);
  let changes = 0;
  let documents = 0;
  let making = 0;
  const count = (read: ColumnsRead) => {
    making += read.making;
    return read.most;
  };
  try {
    while (cursor.left >= MAGIC.length) {
      if (!MAGIC.every((byte, index) => bytes[cursor.offset + index] === byte)) break;
      cursor.skip(MAGIC.length + 4); // magic, checksum
      const type = cursor.byte();
      const body = cursor.take(cursor.uleb());
      if (type === DOCUMENT_CHUNK) documents += count(documentItems(body, budget));
      else if (type === CHANGE_CHUNK) changes += count(changeItems(body, budget));
      else if (type === COMPRESSED_CHANGE_CHUNK)
        changes += count(changeItems(budget.inflate(body), budget));
      else return undefined;
    }
  } catch (error) {
    if (error instanceof Unreadable) return undefined;
    throw error;
  }
  return { changes, documents, making };
}

/**
 * The most items (see {@link chunkItems}) `byteLength` bytes of chunks may
 * declare: {@link ITEMS_ALLOWANCE} plus {@link ITEMS_PER_BYTE} a byte.
 */
export function itemsAllowed(byteLength: number): number {
  return ITEMS_ALLOWANCE + ITEMS_PER_BYTE * byteLength;
}

/**
 * True when hostile `bytes` (a change, a saved document, or chunks
 * concatenated) must not reach Automerge: their changes declare more items
 * than {@link itemsAllowed} for their size (a run-length bomb, which would
 * cost seconds and gigabytes to decode or apply), or all their chunks more
 * than that or `documentItems`, whichever is larger (a relay keeps the
 * default, the bound itself; a client takes whole documents a relay built
 * up to {@link CLIENT_DOCUMENT_ITEMS}), or their chunks do not read.
 * Cheap: linear in the bytes, nothing expanded; deflated columns are
 * inflated to at most {@link maxInflatedOf} bytes in all. Never throws.
 */
export function tooManyItems(bytes: Uint8Array, documentItems = 0): boolean {
  return itemsPastBound(
    bytes.length,
    chunkItems(bytes, maxInflatedOf(bytes.length)),
    documentItems,
  );
}

/**
 * {@link tooManyItems} from what {@link chunkItems} read of `byteLength`
 * bytes (with {@link maxInflatedOf} them), for a caller that also wants the
 * rest of what it read.
 */
export function itemsPastBound(
  byteLength: number,
  items: ChunkItems | undefined,
  documentItems = 0,
): boolean {
  const allowed = itemsAllowed(byteLength);
  if (items === undefined || items.changes > allowed) return true;
  return items.changes + items.documents > Math.max(allowed, documentItems);
}

/** Most bytes the inflated columns of chunks may come to, whatever their size. */
const MAX_INFLATED_BYTES = 256 * 1024 * 1024;

/**
 * Most bytes the deflated columns of `byteLength` bytes of chunks may
 * inflate to in all: 1 MiB plus 32 a byte (Canon's columns, CIDs and run-length
 * encoded numbers, deflate a few times at most), at most 256 MiB.
 */
export function maxInflatedOf(byteLength: number): number {
  return Math.min(MAX_INFLATED_BYTES, 1024 * 1024 + 32 * byteLength);
}
