// bench/node_modules/hyperbatch as a link to the package under test, so that the cold-start probes
// import it by its name, as a user does (cold.mjs, cold-phases.mjs). Through the CommonJS builtins,
// which a fresh process has loaded already (`import "node:fs"` would load more), and without
// import.meta (its first use costs a module some 0.15 ms, which the entry would then find paid).

/** The file URL with every symlink in its path resolved, as Node's resolver gives it. */
export function realURL(url) {
  const { fileURLToPath, pathToFileURL } = process.getBuiltinModule("url");
  return pathToFileURL(process.getBuiltinModule("fs").realpathSync(fileURLToPath(url))).href;
}

/** Links bench/node_modules/hyperbatch to the directory of `entryURL` (the bench dir: `benchDir`). */
export function linkPackage(entryURL, benchDir) {
  const fs = process.getBuiltinModule("fs"), path = process.getBuiltinModule("path");
  const { fileURLToPath } = process.getBuiltinModule("url");
  const dir = path.dirname(fs.realpathSync(fileURLToPath(entryURL)));
  const link = path.join(benchDir, "node_modules", "hyperbatch");
  let target;
  try {
    target = fs.realpathSync(link);
  } catch {
    // missing, or a dangling link
  }
  if (target === dir) return;
  fs.rmSync(link, { force: true }); // a link, never a directory (rmSync refuses one without `recursive`)
  fs.symlinkSync(dir, link, "dir");
}
