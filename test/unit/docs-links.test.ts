/**
 * The repository's documentation stands on its own: every relative link in its markdown files
 * (README.md, SECURITY.md, docs/, deploy/, dashboards/, ...) names a file inside the repository,
 * and a link to a heading names one that exists; the method and the architecture are explained in
 * docs/, and no file refers to notes kept outside the repository, which a clone does not have.
 * The checker itself is shown to catch a dead link, a link out of the repository and a missing
 * heading on a small example.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  headingAnchors,
  headingSlug,
  linkProblem,
  markdownLinks,
  repoFiles,
  repoReader,
} from "../helpers/docs-links.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const files = repoFiles(ROOT);
const markdown = files.filter((f) => /\.md$/i.test(f));

/**
 * Names of the design notes that live beside the checkout, not in it, spelled so that this file
 * does not contain them itself.
 */
const OUTSIDE_NOTES = [
  ...["METHOD", "DESIGN", "STYLE", ["PAPER", "NOTES"].join("-")].map((n) => `${n}.md`),
  `../${"shared"}`,
];

describe("documentation links", () => {
  it("finds the markdown files", () => {
    expect(markdown).toEqual(
      expect.arrayContaining(["README.md", "docs/method.md", "docs/architecture.md", "deploy/README.md"]),
    );
  });

  it("has every relative link resolve inside the repository", () => {
    const read = repoReader(ROOT);
    const problems = markdown.flatMap((file) =>
      markdownLinks(readFileSync(join(ROOT, file), "utf8")).flatMap(({ target, line }) => {
        const problem = linkProblem(ROOT, file, target, read);
        return problem === null ? [] : [`${file}:${line}: ${problem}`];
      }),
    );
    expect(problems).toEqual([]);
  });

  it("links the method and the architecture from the README", () => {
    const targets = markdownLinks(readFileSync(join(ROOT, "README.md"), "utf8")).map((l) => l.target);
    expect(targets).toContain("docs/method.md");
    expect(targets).toContain("docs/architecture.md");
  });

  it("keeps the method's section numbers that code and schemas cite as §1-§7", () => {
    const anchors = headingAnchors(readFileSync(join(ROOT, "docs", "method.md"), "utf8"));
    for (const slug of [
      "1-tasks-and-cases",
      "2-head-ablation",
      "3-neuron-importance-log-probability-increase",
      "4-cna-comparative-neuron-analysis",
      "5-verification",
      "6-conventions-that-make-results-comparable",
      "7-merging-shards",
    ]) {
      expect(anchors, slug).toContain(slug);
    }
  });

  it("has no file that refers to notes outside the repository", () => {
    const hits: string[] = [];
    for (const file of files) {
      const bytes = readFileSync(join(ROOT, file));
      if (bytes.includes(0)) continue; // binary (weights, images)
      bytes
        .toString("utf8")
        .split("\n")
        .forEach((line, i) => {
          for (const name of OUTSIDE_NOTES) if (line.includes(name)) hits.push(`${file}:${i + 1}: ${name}`);
        });
    }
    expect(hits).toEqual([]);
  });
});

describe("the link checker", () => {
  const root = "/repo";
  const tree: Record<string, string> = {
    "README.md": "# Title\n\n## Two words\n",
    "docs/a.md": "# A\n## Same\n## Same\n",
    "docs/img.png": "",
  };
  const read = (path: string) => tree[path] ?? (path === "docs" ? "" : null);
  const check = (file: string, text: string) =>
    markdownLinks(text)
      .map(({ target, line }) => [line, linkProblem(root, file, target, read)] as const)
      .filter(([, p]) => p !== null)
      .map(([line, p]) => `${line}: ${p}`);

  it("catches a dead link, a link out of the repository, an absolute path and a missing heading", () => {
    const text = [
      '[ok](../README.md#two-words) ![img](img.png "title") [folder](../docs) [web](https://example.com/x) [self](#same-1)',
      "[dead](missing.md)",
      "[out](../../etc/passwd)",
      "[abs](/docs/a.md)",
      "[anchor](../README.md#three-words)",
      "```",
      "[in a fence](nowhere.md)",
      "```",
      "text with `[in a span](nowhere.md)` in it",
      "[ref]: ../README.md",
    ].join("\n");
    const problems = check("docs/a.md", text);
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/^2: "missing\.md" does not exist/);
    expect(problems[1]).toMatch(/^3: "\.\.\/\.\.\/etc\/passwd" leaves the repository/);
    expect(problems[2]).toMatch(/^4: "\/docs\/a\.md" is an absolute path/);
    expect(problems[3]).toMatch(/^5: .*README\.md has no heading with anchor #three-words/);
  });

  it("derives heading anchors as GitHub does", () => {
    expect(headingSlug("3. Neuron importance (log-probability increase)")).toBe(
      "3-neuron-importance-log-probability-increase",
    );
    expect(headingSlug("The `rankings.json` file: [schema](x.json)")).toBe("the-rankingsjson-file-schema");
    expect([...headingAnchors("# A\n## Same\n## Same\n```\n# not a heading\n```\n")]).toEqual(["a", "same", "same-1"]);
  });
});
