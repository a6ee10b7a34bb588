// Reorders the parts of a minified module whose order JS does not observe, so that gzip finds
// more repeats: its top-level function declarations (hoisted: each is defined before any
// statement runs) among themselves, and each class's methods among themselves (defined
// together before its fields and static blocks run; only the order of the prototype's own keys
// changes, which nothing reads). Every other statement, field and accessor stays where it is.
// As scripts/wasm-edit.mjs orders a .wasm's functions: a seeded hill climb (swap two, or move
// one, within a group; keep the change when gzip -9 of the file shrinks), deterministic.
import { gzipSync } from "node:zlib";
import { parse } from "acorn";

/** The groups of [start, end) ranges that may be permuted among themselves. */
function groupsOf(code) {
  const ast = parse(code, { ecmaVersion: "latest", sourceType: "module" });
  const groups = [ast.body.filter((n) => n.type === "FunctionDeclaration").map((n) => [n.start, n.end])];
  const classes = [];
  const visit = (node) => {
    if (node === null || typeof node !== "object") return;
    if (Array.isArray(node)) return node.forEach(visit);
    if (node.type === "ClassBody") classes.push(node);
    for (const [k, v] of Object.entries(node)) if (k !== "type") visit(v);
  };
  visit(ast);
  for (const body of classes) {
    const methods = body.body.filter((m) => m.type === "MethodDefinition" && m.kind === "method" && !m.computed);
    // Two methods of one name: the later wins, so their order matters.
    const names = methods.map((m) => `${m.static}:${m.key.type}:${m.key.name ?? m.key.value}`);
    if (new Set(names).size !== names.length) continue;
    groups.push(methods.map((m) => [m.start, m.end]));
  }
  return groups.filter((g) => g.length > 1);
}

/**
 * `code` with its top-level function declarations moved together before its last statement
 * (the export line), in their order: hoisted, they are defined wherever they stand. Gathered, the
 * search orders them among themselves away from the tables and classes between them (core.js
 * -13 to -23 B gzip against their own slots, over three seeds).
 */
function gatherFunctions(code) {
  const body = parse(code, { ecmaVersion: "latest", sourceType: "module" }).body;
  const fns = body.filter((n) => n.type === "FunctionDeclaration");
  const last = body[body.length - 1];
  if (fns.length === 0 || last.type === "FunctionDeclaration") return code;
  let out = "", at = 0;
  for (const f of fns) {
    out += code.slice(at, f.start);
    at = f.end;
  }
  out += code.slice(at, last.start);
  return out + fns.map((f) => code.slice(f.start, f.end)).join("") + code.slice(last.start);
}

/**
 * `code` reordered (see above); `evals` tries of the hill climb, from its functions where they
 * stand and from them gathered (gatherFunctions): the smaller of the two.
 */
export function orderForGzip(code, { evals = 6000, seed = 1 } = {}) {
  const asIs = search(code, evals, seed), gathered = search(gatherFunctions(code), evals, seed);
  return { ...(gathered.after < asIs.after ? gathered : asIs), before: asIs.before };
}

function search(code, evals, seed) {
  const groups = groupsOf(code);
  const slots = groups.flatMap((g, gi) => g.map((range, i) => ({ gi, i, range }))).sort((a, b) => a.range[0] - b.range[0]);
  const build = (perms) => {
    let out = "", at = 0;
    for (const { gi, i, range } of slots) {
      const [start, end] = groups[gi][perms[gi][i]];
      out += code.slice(at, range[0]) + code.slice(start, end);
      at = range[1];
    }
    return out + code.slice(at);
  };
  const size = (perms) => gzipSync(build(perms), { level: 9 }).length;
  let perms = groups.map((g) => g.map((_, i) => i)), best = size(perms);
  const before = best, total = slots.length;
  let state = seed >>> 0 || 1;
  const random = (k) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return Math.floor((state / 2 ** 32) * k);
  };
  for (let t = 0; t < evals && total > 0; t++) {
    let r = random(total), gi = 0; // a group, in proportion to its size
    while (r >= groups[gi].length) r -= groups[gi++].length;
    const next = perms.slice(), p = (next[gi] = perms[gi].slice()), i = random(p.length), j = random(p.length);
    if (random(2) === 0) [p[i], p[j]] = [p[j], p[i]];
    else p.splice(j, 0, p.splice(i, 1)[0]);
    const s = size(next);
    if (s < best) {
      best = s;
      perms = next;
    }
  }
  return { code: build(perms), before, after: best };
}
