// Draws the throughput results as one hand-written SVG (no browser needed): a column per runtime,
// a group of bars per (transport, N), a bar per contender, million items/s on one shared scale.
const CONTENDERS = [
  ["floor", "raw floor", "#9e9e9e"],
  ["hyperbatch", "hyperbatch", "#d9480f"],
  ["dataloader", "DataLoader", "#1c7ed6"],
  ["promise-batcher", "promise-batcher", "#37b24d"],
  ["batshit", "batshit", "#ae3ec9"],
];
const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function svgChart(results) {
  const cols = Object.entries(results.runtimes).filter(([, r]) => r.sections?.throughput && !r.sections.throughput.error);
  const groups = [];
  for (const [, r] of cols) {
    for (const kind of ["sync", "async"]) {
      for (const n of Object.keys(r.sections.throughput[kind] ?? {})) {
        if (!groups.some((g) => g.kind === kind && g.n === n)) groups.push({ kind, n });
      }
    }
  }
  let max = 0;
  for (const [, r] of cols) {
    for (const g of groups) {
      for (const [key] of CONTENDERS) max = Math.max(max, r.sections.throughput[g.kind]?.[g.n]?.contenders[key]?.itemsPerSec ?? 0);
    }
  }
  max = Math.ceil(max / 1e6) || 1;
  const colW = 285, labelW = 110, barH = 11, gap = 4, groupGap = 22, top = 104, left = 10;
  const groupH = CONTENDERS.length * (barH + 2) + groupGap;
  const width = left + labelW + cols.length * colW + 10;
  const height = top + groups.length * groupH + 30;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  const load = results.machine.loadAverageBefore.map((x) => x.toFixed(2)).join(" ");
  out.push(`<text x="${left}" y="18" font-size="14" font-weight="bold">hyperbatch ${esc(results.package.version)} throughput, million items/s (median; longer is faster)</text>`);
  out.push(`<text x="${left}" y="34" fill="#555">${esc(`${results.mode} run ${results.date.slice(0, 16)}Z, ${results.machine.cpus} × ${results.machine.model}, load average ${load} (1/5/15 min)`)}</text>`);
  out.push(`<text x="${left}" y="48" fill="#555">batches of 100, transport x =&gt; 2x, no I/O; N=1e3: bursts of 1,000 items; larger N: 10,000 items per await</text>`);
  CONTENDERS.forEach(([, name, color], i) => {
    const x = left + i * 130;
    out.push(`<rect x="${x}" y="58" width="10" height="10" fill="${color}"/><text x="${x + 14}" y="67">${esc(name)}</text>`);
  });
  cols.forEach(([, r], ci) => {
    const x0 = left + labelW + ci * colW;
    out.push(`<text x="${x0}" y="${top - 14}" font-weight="bold">${esc(r.runtime)}</text>`);
    out.push(`<line x1="${x0}" y1="${top - 8}" x2="${x0}" y2="${height - 26}" stroke="#ccc"/>`);
    groups.forEach((g, gi) => {
      const y0 = top + gi * groupH;
      if (ci === 0) out.push(`<text x="${left}" y="${y0 + 24}">${g.kind}, N=${Number(g.n).toExponential()}</text>`);
      const c = r.sections.throughput[g.kind]?.[g.n]?.contenders ?? {};
      CONTENDERS.forEach(([key, , color], k) => {
        const v = c[key]?.itemsPerSec;
        const y = y0 + k * (barH + 2);
        if (!v) {
          out.push(`<text x="${x0 + 2}" y="${y + barH - 2}" fill="#c00">error</text>`);
          return;
        }
        const w = Math.max(1, ((colW - 60) * v) / (max * 1e6));
        out.push(`<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${color}"/>`);
        out.push(`<text x="${(x0 + w + 3).toFixed(1)}" y="${y + barH - 2}" fill="#333">${(v / 1e6).toFixed(2)}</text>`);
      });
      const dl = c.dataloader?.medianMs, hb = c.hyperbatch?.medianMs;
      if (dl && hb) out.push(`<text x="${x0}" y="${y0 + CONTENDERS.length * (barH + 2) + 10}" fill="#555" font-size="10">hyperbatch: ${(dl / hb).toFixed(2)}× DataLoader speed, ${(hb / c.floor.medianMs).toFixed(2)}× floor time</text>`);
    });
  });
  out.push(`<text x="${left}" y="${height - 10}" fill="#555">Scale: 0 to ${max} M items/s in every column. Tables and every other measurement: results/${esc(results.mode)}.md and .json.</text>`);
  out.push(`</svg>`);
  return `${out.join("\n")}\n`;
}
