// The package's size as Node loads it: the file `import "hyperbatch"` resolves to, everything it
// imports or reads (relative imports, require(), new URL(…, import.meta.url), '*.wasm' literals),
// and every top-level .wasm, each gzipped at level 9 (node:zlib). A report, not a target here.
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

const DEPS = [
  /\bfrom\s*["'](\.{1,2}\/[^"']+)["']/g,
  /\bimport\s*["'](\.{1,2}\/[^"']+)["']/g,
  /\bimport\s*\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g,
  /\brequire\s*\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g,
  /new\s+URL\s*\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url/g,
  /["']([^"'\s]+\.wasm)["']/g,
];

function depsOf(file) {
  const src = fs.readFileSync(file, "utf8");
  const out = [];
  for (const re of DEPS) {
    for (const m of src.matchAll(re)) {
      const p = path.resolve(path.dirname(file), m[1].replace(/^\.\//, ""));
      if (fs.existsSync(p) && fs.statSync(p).isFile()) out.push(p);
    }
  }
  return out;
}

/** `entry`: the Node import entry of the package in `pkgDir`. */
export function packageSize(pkgDir, entry) {
  const loaded = new Set();
  const stack = [entry];
  while (stack.length) {
    const f = stack.pop();
    if (loaded.has(f)) continue;
    loaded.add(f);
    if (/\.(m?js|cjs)$/.test(f)) stack.push(...depsOf(f));
  }
  for (const f of fs.readdirSync(pkgDir)) if (f.endsWith(".wasm")) loaded.add(path.join(pkgDir, f));
  const files = [...loaded].sort().map((f) => {
    const buf = fs.readFileSync(f);
    return { file: path.relative(pkgDir, f), raw: buf.length, gzip: zlib.gzipSync(buf, { level: 9 }).length };
  });
  return { files, gzip: files.reduce((a, f) => a + f.gzip, 0), raw: files.reduce((a, f) => a + f.raw, 0) };
}
