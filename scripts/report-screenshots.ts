/**
 * Regenerates the README's report screenshots with headless Chromium (the Debian build, offline):
 *
 *   node --import tsx scripts/report-screenshots.ts [--out docs] [--chromium /usr/bin/chromium]
 *
 * - OUT/report.png: `cna run examples/zoo-quick.yaml` (the demo's sweep over the bundled zoo),
 *   the top of its report: title, summary and the first cell.
 * - OUT/report-failed.png: a sweep over two zoo models and a copy of one whose config names an
 *   architecture no worker can build, so its cells are quarantined and the sweep fails; the top
 *   of its report: the failure banner and the summary.
 *
 * Both sweeps run in a temp directory, which is removed afterwards. Needs the zoo in models/.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const REPO = resolve(import.meta.dirname, "..");
const CLI = join(REPO, "cli", "cna.js");
/** Widest a screenshot is drawn; the page lays out at this width. */
const WIDTH = 1100;

const { values } = parseArgs({
  options: {
    out: { type: "string", default: join(REPO, "docs") },
    chromium: { type: "string", default: process.env.CNA_CHROMIUM ?? "/usr/bin/chromium" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  process.stdout.write("usage: node --import tsx scripts/report-screenshots.ts [--out DIR] [--chromium PATH]\n");
  process.exit(0);
}
const out = resolve(values.out);

/** `cna run SWEEP --out DIR`; `mayFail`: a failed sweep (exit 1) is what was asked for. */
function cnaRun(cwd: string, sweep: string, dir: string, mayFail: boolean): void {
  const r = spawnSync(process.execPath, [CLI, "run", sweep, "--out", dir, "--workers", "2", "--quiet"], {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "inherit", "pipe"],
  });
  const ok = r.status === 0 || (mayFail && r.status === 1);
  if (!ok) throw new Error(`cna run ${sweep} exited ${r.status}:\n${r.stderr}`);
}

const FAILED_SWEEP = `name: zoo-failed
modelRoot: models
operators: ["+", "-", "*"]
digits: [1]
templates: [4]
stages: [head-ablation, cna, verify]
cna: { topK: 100 }
verify: { ks: [10, 20, 30, 50, 99] }
shard: { pairs: 32, maxAttempts: 2 }
`;

/** Screenshots `html` from the top of the page (not scrolled) to the bottom of the element `until`. */
async function shoot(html: string, until: string, png: string, profile: string): Promise<void> {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: values.chromium,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
    viewport: { width: WIDTH, height: 900 },
  });
  try {
    const page = await context.newPage();
    await page.goto(pathToFileURL(html).href, { waitUntil: "load" });
    const box = await page.locator(until).boundingBox();
    if (!box) throw new Error(`${html}: no ${until} on the page`);
    const bottom = box.y + box.height;
    await page.screenshot({
      path: png,
      fullPage: true,
      clip: { x: 0, y: 0, width: WIDTH, height: Math.ceil(bottom) + 16 },
    });
  } finally {
    await context.close();
  }
  process.stderr.write(`wrote ${png} (${Math.round(statSync(png).size / 1024)} KiB)\n`);
}

const root = mkdtempSync(join(tmpdir(), "cna-screens-"));
try {
  cnaRun(REPO, join(REPO, "examples", "zoo-quick.yaml"), join(root, "fresh"), false);
  await shoot(join(root, "fresh", "report.html"), "#cell-0", join(out, "report.png"), join(root, "p1"));

  for (const m of ["arith-2l-d64", "arith-llama-3l-d96"])
    cpSync(join(REPO, "models", m), join(root, "models", m), { recursive: true });
  // a model the planner can read (its files have a digest) but no worker can build
  const broken = join(root, "models", "arith-broken");
  cpSync(join(REPO, "models", "arith-2l-d64"), broken, { recursive: true });
  const config = JSON.parse(readFileSync(join(broken, "config.json"), "utf8")) as Record<string, unknown>;
  writeFileSync(join(broken, "config.json"), JSON.stringify({ ...config, model_type: "no-such-family" }));
  writeFileSync(join(root, "failed.yaml"), FAILED_SWEEP);
  cnaRun(root, "failed.yaml", join(root, "failed"), true);
  await shoot(join(root, "failed", "report.html"), "#summary", join(out, "report-failed.png"), join(root, "p2"));
} finally {
  rmSync(root, { recursive: true, force: true });
}
