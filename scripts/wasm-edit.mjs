// Two edits of the shipped .wasm that wasm-opt does not make the way the build needs them.
//
// renameExports gives the exports the names the build chose (see build.mjs shortenExports).
//
// orderFunctions reorders the functions so that gzip compresses the code section better:
// similar functions next to each other fall within deflate's 32 KB window of each other's
// repeats. The order is found by a seeded hill climb (swap two functions, move one or a run of
// them, keep the change when gzip -9 of the whole module shrinks), so the same input always
// gives the same output. Every call (`call`), export and the function section are renumbered to
// match; the code is otherwise copied byte for byte. Modules with imports, a table, element or
// start section are refused (the shell has none: no indirect calls), as are instructions this
// decoder does not know.
import { gzipSync } from "node:zlib";

function uleb(b, p) {
  let r = 0, s = 0, x;
  do {
    x = b[p++];
    r += (x & 0x7f) * 2 ** s;
    s += 7;
  } while (x & 0x80);
  return [r, p];
}
function skipLeb(b, p) {
  while (b[p++] & 0x80);
  return p;
}
function encode(v) {
  const out = [];
  do {
    let byte = v & 0x7f;
    v = Math.floor(v / 128);
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return out;
}

/** The offsets of every `call`'s function index in a function body (its locals and code). */
function callSites(b, start, end) {
  let p = start;
  const [groups, q] = uleb(b, p);
  p = q;
  for (let i = 0; i < groups; i++) p = skipLeb(b, p) + 1; // count, value type
  const sites = [];
  while (p < end) {
    const op = b[p++];
    if (op === 0x10) {
      // call funcidx
      const [idx, q2] = uleb(b, p);
      sites.push({ at: p, end: q2, idx });
      p = q2;
    } else if (op === 0x02 || op === 0x03 || op === 0x04) {
      // block / loop / if: a block type (0x40, a value type, or a type index as s33)
      const t = b[p];
      p = t === 0x40 || (t >= 0x7b && t <= 0x7f) ? p + 1 : skipLeb(b, p);
    } else if (op === 0x0c || op === 0x0d || (op >= 0x20 && op <= 0x24) || op === 0x41 || op === 0x42) {
      p = skipLeb(b, p); // br, br_if, local/global get/set/tee, i32.const, i64.const
    } else if (op === 0x0e) {
      // br_table: a vector of labels and the default
      const [n, q2] = uleb(b, p);
      p = q2;
      for (let i = 0; i <= n; i++) p = skipLeb(b, p);
    } else if (op === 0x11) {
      throw new Error("wasm-edit: call_indirect is not supported");
    } else if (op >= 0x28 && op <= 0x3e) {
      p = skipLeb(b, skipLeb(b, p)); // loads and stores: align, offset
    } else if (op === 0x3f || op === 0x40) {
      p += 1; // memory.size / memory.grow: memory 0
    } else if (op === 0x43) {
      p += 4;
    } else if (op === 0x44) {
      p += 8;
    } else if (op === 0x1c) {
      // select with types
      const [n, q2] = uleb(b, p);
      p = q2 + n;
    } else if (op === 0xfc) {
      const [sub, q2] = uleb(b, p);
      p = q2;
      if (sub <= 7) continue; // saturating truncations
      if (sub === 10) p += 2; // memory.copy: two memories
      else if (sub === 11) p += 1; // memory.fill
      else throw new Error(`wasm-edit: unknown instruction 0xfc ${sub}`);
    } else if (
      op === 0x00 || op === 0x01 || op === 0x05 || op === 0x0b || op === 0x0f || op === 0x1a || op === 0x1b ||
      (op >= 0x45 && op <= 0xc4)
    ) {
      // no immediates: unreachable, nop, else, end, return, drop, select, numeric, sign-extension
    } else {
      throw new Error(`wasm-edit: unknown instruction 0x${op.toString(16)}`);
    }
  }
  return sites;
}

function sectionsOf(b) {
  const sections = [];
  for (let p = 8; p < b.length;) {
    const id = b[p];
    const [size, q] = uleb(b, p + 1);
    sections.push({ id, start: p, body: q, end: q + size });
    p = q + size;
  }
  return sections;
}

function section(id, parts) {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([id, ...encode(body.length)]), body]);
}

/** The module's exports: name, kind, index, and where each entry's kind byte starts. */
function exportsOf(b, exp) {
  let [e, x] = uleb(b, exp.body);
  const exports = [];
  for (let i = 0; i < e; i++) {
    const [len, y] = uleb(b, x);
    const name = b.subarray(y, y + len).toString("utf8");
    const kind = b[y + len];
    const [idx, z] = uleb(b, y + len + 1);
    exports.push({ name, kind, idx, head: b.subarray(x, y + len + 1) });
    x = z;
  }
  return exports;
}

/** `bytes` with each export renamed to `rename(name)` (same order, same kinds and indices). */
export function renameExports(bytes, rename) {
  const b = Buffer.from(bytes), sections = sectionsOf(b), out = [b.subarray(0, 8)];
  for (const s of sections) {
    if (s.id !== 7) {
      out.push(b.subarray(s.start, s.end));
      continue;
    }
    const entries = exportsOf(b, s).map(({ name, kind, idx }) => {
      const to = Buffer.from(rename(name), "utf8");
      return Buffer.from([...encode(to.length), ...to, kind, ...encode(idx)]);
    });
    out.push(section(7, [Buffer.from(encode(entries.length)), ...entries]));
  }
  return Buffer.concat(out);
}

/** `bytes` reordered (see above); `evals` tries of the hill climb. */
export function orderFunctions(bytes, { evals = 6000, seed = 1 } = {}) {
  const b = Buffer.from(bytes);
  const sections = sectionsOf(b);
  const find = (id) => sections.find((s) => s.id === id);
  for (const id of [2, 4, 8, 9]) {
    if (find(id)) throw new Error(`wasm-edit: section ${id} (imports, table, start or elements) is not supported`);
  }
  const fnSec = find(3), code = find(10), exp = find(7);
  // Function types, in index order.
  let [n, p] = uleb(b, fnSec.body);
  const types = [];
  for (let i = 0; i < n; i++) {
    const q = skipLeb(b, p);
    types.push(b.subarray(p, q));
    p = q;
  }
  // Bodies and their call sites.
  let [m, q] = uleb(b, code.body);
  if (m !== n) throw new Error("wasm-edit: function and code sections differ in length");
  const bodies = [];
  for (let i = 0; i < n; i++) {
    const [size, r] = uleb(b, q);
    bodies.push({ start: r, end: r + size, sites: callSites(b, r, r + size) });
    q = r + size;
  }
  const exports = exportsOf(b, exp);
  const build = (order) => {
    const pos = new Array(n);
    order.forEach((f, k) => (pos[f] = k));
    const codeParts = [Buffer.from(encode(n))];
    for (const f of order) {
      const { start, end, sites } = bodies[f];
      const parts = [];
      let at = start;
      for (const s of sites) {
        parts.push(b.subarray(at, s.at), Buffer.from(encode(pos[s.idx])));
        at = s.end;
      }
      parts.push(b.subarray(at, end));
      const body = Buffer.concat(parts);
      codeParts.push(Buffer.from(encode(body.length)), body);
    }
    const out = [b.subarray(0, 8)];
    for (const s of sections) {
      if (s.id === 3) out.push(section(3, [Buffer.from(encode(n)), ...order.map((f) => types[f])]));
      else if (s.id === 10) out.push(section(10, codeParts));
      else if (s.id === 7) {
        out.push(section(7, [Buffer.from(encode(exports.length)),
          ...exports.map((x) => Buffer.concat([x.head, Buffer.from(encode(x.kind === 0 ? pos[x.idx] : x.idx))]))]));
      } else out.push(b.subarray(s.start, s.end));
    }
    return Buffer.concat(out);
  };
  const size = (order) => gzipSync(build(order), { level: 9 }).length;

  let order = bodies.map((_, i) => i), best = size(order);
  const before = best;
  let state = seed >>> 0 || 1;
  const random = (k) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return Math.floor((state / 2 ** 32) * k);
  };
  for (let t = 0; t < evals; t++) {
    const next = order.slice(), i = random(n), j = random(n);
    const move = random(3);
    if (move === 0) [next[i], next[j]] = [next[j], next[i]];
    else if (move === 1) next.splice(j, 0, next.splice(i, 1)[0]);
    else {
      const run = next.splice(i, 1 + random(8)); // a run of up to 8 functions moves together
      next.splice(random(next.length + 1), 0, ...run);
    }
    const s = size(next);
    if (s < best) {
      best = s;
      order = next;
    }
  }
  return { bytes: build(order), before, after: best };
}
