// An empty module: cold-phases.mjs's first dynamic import() (the ESM loader's own start-up).
