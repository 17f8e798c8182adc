/**
 * Headless Debian Chromium for the report's browser checks and screenshots: its background
 * network features off, no sandbox (containers), a fresh profile per launch.
 */
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import type { BrowserContext } from "playwright-core";
import { prerequisite } from "./prereq.ts";

export const CHROMIUM = process.env.CNA_CHROMIUM ?? "/usr/bin/chromium";

export const chromiumPrereq = prerequisite("chromium", () =>
  existsSync(CHROMIUM) ? null : `${CHROMIUM} not found (apt-get install chromium)`,
);

/** A headless Chromium on `profile` (a fresh temp dir: no state between runs). */
export async function launchChromium(
  profile: string,
  viewport: { width: number; height: number } = { width: 1200, height: 900 },
): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
    viewport,
  });
}
