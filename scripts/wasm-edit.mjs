// Two edits of the shipped .wasm that wasm-opt does not make the way the build needs them.
//
// renameExports gives the exports the names the build chose (see build.mjs shortenExports).
//
// orderFunctions reorders the functions so that gzip compresses the code section better:
// similar functions next to each other fall within deflate's 32 KB window of each other's
// repeats; and it renumbers each function's locals (within a run of one type, so the
// declarations stay) so that the same code reads the same bytes more often. Both are found by
// one seeded hill climb (half the tries swap two locals of a function, half swap two functions
// or move one or a run of them; a change is kept when gzip -9 of the whole module shrinks), so
// the same input always gives the same output. Every call (`call`), local access, export and
// the function section are renumbered to match; the code is otherwise copied byte for byte.
// Modules with imports, a table, element or start section are refused (the shell has none: no
// indirect calls), as are instructions this decoder does not know.
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

/**
 * A function body's local declarations (`[count, type]` groups, where they end) and the
 * immediates the reordering rewrites: each `call`'s function index, each local.get/set/tee's
 * local index, with their offsets.
 */
function scanBody(b, start, end) {
  let p = start;
  const [n, q] = uleb(b, p);
  p = q;
  const groups = [];
  for (let i = 0; i < n; i++) {
    const [count, r] = uleb(b, p);
    groups.push([count, b[r]]);
    p = r + 1;
  }
  const codeStart = p, sites = [];
  while (p < end) {
    const op = b[p++];
    if (op === 0x10 || (op >= 0x20 && op <= 0x22)) {
      // call funcidx; local.get / local.set / local.tee localidx
      const [idx, q2] = uleb(b, p);
      sites.push({ at: p, end: q2, idx, call: op === 0x10 });
      p = q2;
    } else if (op === 0x02 || op === 0x03 || op === 0x04) {
      // block / loop / if: a block type (0x40, a value type, or a type index as s33)
      const t = b[p];
      p = t === 0x40 || (t >= 0x7b && t <= 0x7f) ? p + 1 : skipLeb(b, p);
    } else if (op === 0x0c || op === 0x0d || op === 0x23 || op === 0x24 || op === 0x41 || op === 0x42) {
      p = skipLeb(b, p); // br, br_if, global.get/set, i32.const, i64.const
    } else if (op === 0x0e) {
      // br_table: a vector of labels and the default
      const [n2, q2] = uleb(b, p);
      p = q2;
      for (let i = 0; i <= n2; i++) p = skipLeb(b, p);
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
      const [n2, q2] = uleb(b, p);
      p = q2 + n2;
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
  return { codeStart, groups, sites };
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
  // Each signature's parameter count (a function's first locals). Value types are one byte each
  // (numbers only: the build has no reference types).
  let [nt, p] = uleb(b, find(1).body);
  const params = [];
  for (let i = 0; i < nt; i++) {
    if (b[p] !== 0x60) throw new Error("wasm-edit: a type that is not a function type");
    const [np, q] = uleb(b, p + 1);
    const [nr, r] = uleb(b, q + np);
    params.push(np);
    p = r + nr;
  }
  // Function types, in index order.
  let n;
  [n, p] = uleb(b, fnSec.body);
  const types = [];
  for (let i = 0; i < n; i++) {
    const [t, q] = uleb(b, p);
    types.push({ bytes: b.subarray(p, q), params: params[t] });
    p = q;
  }
  // Bodies, their immediates, and the runs of locals of one type (index ranges that may be
  // permuted: the declarations stay as they are).
  let [m, q] = uleb(b, code.body);
  if (m !== n) throw new Error("wasm-edit: function and code sections differ in length");
  const bodies = [];
  for (let f = 0; f < n; f++) {
    const [size, r] = uleb(b, q);
    const body = { start: r, end: r + size, ...scanBody(b, r, r + size), runs: [] };
    let first = types[f].params;
    for (const [count] of body.groups) {
      if (count > 1) body.runs.push([first, count]);
      first += count;
    }
    body.locals = first;
    bodies.push(body);
    q = r + size;
  }
  const exports = exportsOf(b, exp);
  // Functions whose locals may be renumbered, each as often as it has local accesses and calls
  // (by 16): a try lands where the bytes are (-70 B against picking functions alike).
  const weighted = bodies.flatMap((body, f) => (body.runs.length > 0 ? Array(Math.ceil(body.sites.length / 16)).fill(f) : []));

  // Function `f`'s body with calls to the functions at `pos` and its locals renumbered by
  // `renumber` (old index → new; undefined: as they are).
  const assemble = (f, pos, renumber) => {
    const { start, end, sites } = bodies[f];
    const out = Buffer.allocUnsafe(end - start + 5 * sites.length);
    let o = 0, at = start;
    for (const s of sites) {
      o += b.copy(out, o, at, s.at);
      let v = s.call ? pos[s.idx] : renumber === undefined ? s.idx : renumber[s.idx];
      do {
        out[o++] = (v & 0x7f) | (v > 0x7f ? 0x80 : 0);
        v >>>= 7;
      } while (v);
      at = s.end;
    }
    o += b.copy(out, o, at, end);
    return out.subarray(0, o);
  };
  const callees = bodies.map(({ sites }) => [...new Set(sites.filter((s) => s.call).map((s) => s.idx))]);
  // The module from bodies in order (`built[f]`: function f's).
  const build = (order, pos, built) => {
    const codeParts = [Buffer.from(encode(n))];
    for (const f of order) codeParts.push(Buffer.from(encode(built[f].length)), built[f]);
    const out = [b.subarray(0, 8)];
    for (const s of sections) {
      if (s.id === 3) out.push(section(3, [Buffer.from(encode(n)), ...order.map((f) => types[f].bytes)]));
      else if (s.id === 10) out.push(section(10, codeParts));
      else if (s.id === 7) {
        out.push(section(7, [Buffer.from(encode(exports.length)),
          ...exports.map((x) => Buffer.concat([x.head, Buffer.from(encode(x.kind === 0 ? pos[x.idx] : x.idx))]))]));
      } else out.push(b.subarray(s.start, s.end));
    }
    return Buffer.concat(out);
  };
  const positions = (order) => {
    const pos = new Array(n);
    order.forEach((f, k) => (pos[f] = k));
    return pos;
  };

  let order = bodies.map((_, i) => i), pos = positions(order), locals = [];
  let built = order.map((f) => assemble(f, pos, undefined));
  let best = gzipSync(build(order, pos, built), { level: 9 }).length;
  const before = best;
  let state = seed >>> 0 || 1;
  const random = (k) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return Math.floor((state / 2 ** 32) * k);
  };
  for (let t = 0; t < evals; t++) {
    let nextOrder = order, nextPos = pos, nextLocals = locals;
    const nextBuilt = built.slice();
    if (random(2) === 0 && weighted.length > 0) {
      // Two locals of one type in one function trade indices.
      const f = weighted[random(weighted.length)], runs = bodies[f].runs, [first, count] = runs[random(runs.length)];
      const renumber = (locals[f] ?? [...Array(bodies[f].locals).keys()]).slice();
      const i = renumber.indexOf(first + random(count)), j = renumber.indexOf(first + random(count));
      [renumber[i], renumber[j]] = [renumber[j], renumber[i]];
      nextLocals = locals.slice();
      nextLocals[f] = renumber;
      nextBuilt[f] = assemble(f, pos, renumber);
    } else {
      nextOrder = order.slice();
      const i = random(n), j = random(n), move = random(3);
      if (move === 0) [nextOrder[i], nextOrder[j]] = [nextOrder[j], nextOrder[i]];
      else if (move === 1) nextOrder.splice(j, 0, nextOrder.splice(i, 1)[0]);
      else {
        const run = nextOrder.splice(i, 1 + random(8)); // a run of up to 8 functions moves together
        nextOrder.splice(random(nextOrder.length + 1), 0, ...run);
      }
      nextPos = positions(nextOrder);
      // Only the bodies calling a function that moved change.
      for (let f = 0; f < n; f++) {
        if (callees[f].some((g) => nextPos[g] !== pos[g])) nextBuilt[f] = assemble(f, nextPos, locals[f]);
      }
    }
    const s = gzipSync(build(nextOrder, nextPos, nextBuilt), { level: 9 }).length;
    if (s < best) {
      best = s;
      order = nextOrder;
      pos = nextPos;
      locals = nextLocals;
      built = nextBuilt;
    }
  }
  return { bytes: build(order, pos, built), before, after: best };
}
