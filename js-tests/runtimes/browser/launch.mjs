// Headless Chromium for the browser suites: Debian's /usr/bin/chromium (or $CHROMIUM) driven by
// playwright-core, in a throwaway profile. Never a downloaded browser.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

/** Launches Chromium; `close()` shuts it and removes its profile. */
export async function launchChromium() {
  const userDataDir = mkdtempSync(join(tmpdir(), "hyperbatch-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const close = async () => {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, close };
}
