// bench/node_modules/hyperbatch as a copy of the package under test, so that the cold-start probes
// import it by its name, as a user does (cold.mjs, cold-phases.mjs). A copy, as npm installs a
// package (and as bench/node_modules/dataloader is), not a link: resolving a name through a
// symlinked directory cost Node 24 some 0.8 ms more (Node 22: 0.1). Through the CommonJS
// builtins, which a fresh process has loaded already (`import "node:fs"` would load more), and
// without import.meta (its first use costs a module some 0.15 ms, which the entry would then find paid).

const MARK = ".cold-copy-of"; // the copy's source and the sizes and times of its files

/**
 * Makes bench/node_modules/hyperbatch (under `benchDir`) a copy of the package directory of
 * `entryURL`, unless it is one already; returns the URL that entry has in the copy.
 */
export function installPackage(entryURL, benchDir) {
  const fs = process.getBuiltinModule("fs"), path = process.getBuiltinModule("path");
  const { fileURLToPath, pathToFileURL } = process.getBuiltinModule("url");
  const entry = fs.realpathSync(fileURLToPath(entryURL)), dir = path.dirname(entry);
  const dest = path.join(benchDir, "node_modules", "hyperbatch");
  const files = fs.readdirSync(dir, { recursive: true }).sort();
  const stamp = JSON.stringify([dir, ...files.map((f) => {
    const s = fs.statSync(path.join(dir, f));
    return [f, s.size, s.mtimeMs];
  })]);
  const copied = pathToFileURL(path.join(dest, path.basename(entry))).href;
  let kind;
  try {
    kind = fs.lstatSync(dest);
  } catch {
    // not there yet
  }
  if (kind?.isSymbolicLink()) {
    fs.unlinkSync(dest);
  } else if (kind !== undefined) {
    let mark;
    try {
      mark = fs.readFileSync(path.join(dest, MARK), "utf8");
    } catch {
      throw new Error(`${dest} is not a copy this bench made; remove it first`);
    }
    if (mark === stamp) return copied;
    fs.rmSync(dest, { recursive: true });
  }
  fs.cpSync(dir, dest, { recursive: true });
  fs.writeFileSync(path.join(dest, MARK), stamp);
  return copied;
}
