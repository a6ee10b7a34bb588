// BatchWriteItem, as in the proposal "Batch Write Operations (Server Protocol)": up to 25 puts and
// deletes, across tables, committed all-or-nothing. Items are keyed by partition key `category`
// and sort key `key`.

export const MAX_WRITE_OPS = 25; // DynamoDB's limit, which the proposal keeps

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const isKey = (v) => (typeof v === 'string' && v !== '') || Number.isFinite(v);
const itemKey = (pk, sk) => JSON.stringify([pk, sk]); // keeps "1" and 1 apart

/** The first problem in `operations` as a message naming the operation, or null if all are valid. */
export function checkOperations(operations) {
  for (const [i, op] of operations.entries()) {
    const at = `operations[${i}]`;
    if (!isObject(op) || Object.keys(op).length !== 1 || !(op.put || op.delete)) {
      return `${at} must be {"put": {...}} or {"delete": {...}}`;
    }
    const { table } = op.put ?? op.delete;
    if (typeof table !== 'string' || table === '') return `${at} needs a non-empty "table"`;
    if (op.put) {
      const { item } = op.put;
      if (!isObject(item)) return `${at}.put.item must be an object`;
      if (!isKey(item.category)) return `${at}.put.item.category (partition key) must be a string or number`;
      if (!isKey(item.key)) return `${at}.put.item.key (sort key) must be a string or number`;
    } else {
      const { partition_key, sort_key } = op.delete;
      if (!isKey(partition_key)) return `${at}.delete.partition_key must be a string or number`;
      if (!isKey(sort_key)) return `${at}.delete.sort_key must be a string or number`;
    }
  }
  return null;
}

export class TableStore {
  #tables = new Map(); // table → Map(itemKey → item)

  /**
   * Applies checked operations in order and returns how many. Nothing below can fail halfway and
   * nothing else runs in between (one JS thread), so checking first makes the batch atomic.
   */
  commit(operations) {
    for (const op of operations) {
      const { table } = op.put ?? op.delete;
      if (!this.#tables.has(table)) this.#tables.set(table, new Map());
      const rows = this.#tables.get(table);
      if (op.put) rows.set(itemKey(op.put.item.category, op.put.item.key), op.put.item);
      else rows.delete(itemKey(op.delete.partition_key, op.delete.sort_key)); // absent: still a success
    }
    return operations.length;
  }

  get(table, partitionKey, sortKey) {
    return this.#tables.get(table)?.get(itemKey(partitionKey, sortKey));
  }

  /** Every item of `table`, in the order its key was first written. */
  items(table) {
    return [...(this.#tables.get(table)?.values() ?? [])];
  }

  /** Every table as { name: [items] }. */
  toJSON() {
    return Object.fromEntries([...this.#tables.keys()].map((name) => [name, this.items(name)]));
  }
}

/**
 * The answer for one committed operation, derived from it: the row's keys, and for a put an etag
 * (FNV-1a of the item's JSON), so a client handing one operation's answer to another caller shows.
 */
export function resultOf(op) {
  if (op.delete) {
    const { table, partition_key, sort_key } = op.delete;
    return { table, category: partition_key, key: sort_key, deleted: true };
  }
  const { table, item } = op.put;
  return { table, category: item.category, key: item.key, etag: fnv1a(JSON.stringify(item)) };
}

/** A write's id in the delivery ledger: the operation itself (a resend is the same operation). */
export const writeIdOf = (op) => (isObject(op) ? JSON.stringify(op) : undefined);

function fnv1a(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, '0');
}
