/**
 * Markdown links, checked against the repository: every relative link must name a file or
 * folder inside it, and a `#fragment` into a markdown file must name one of its headings (as
 * GitHub derives heading anchors). Links inside code (fenced blocks, `code spans`) are text, not
 * links; links with a scheme (https:, mailto:) point outside and are left alone.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";

export interface MarkdownLink {
  target: string;
  /** 1-based line of the link */
  line: number;
}

/** The text with fenced code blocks and code spans blanked (line numbers kept). */
function withoutCode(text: string): string {
  const lines = text.split("\n");
  let fence: string | null = null;
  return lines
    .map((line) => {
      const open = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
      if (fence !== null) {
        if (open && open[1]![0] === fence[0] && open[1]!.length >= fence.length) fence = null;
        return "";
      }
      if (open) {
        fence = open[1]!;
        return "";
      }
      return line.replace(/(`+)[^`]*?\1/g, "");
    })
    .join("\n");
}

/** Inline links and images `[text](target "title")` and reference definitions `[id]: target`. */
export function markdownLinks(text: string): MarkdownLink[] {
  const links: MarkdownLink[] = [];
  withoutCode(text)
    .split("\n")
    .forEach((line, i) => {
      for (const m of line.matchAll(/\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g)) {
        links.push({ target: m[1]!.replace(/^<|>$/g, ""), line: i + 1 });
      }
      const def = /^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(line);
      if (def) links.push({ target: def[1]!.replace(/^<|>$/g, ""), line: i + 1 });
    });
  return links;
}

/** GitHub's anchor for a heading's text: lower case, punctuation dropped, spaces to hyphens. */
export function headingSlug(heading: string): string {
  const visible = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/`/g, "")
    .trim();
  return visible
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "")
    .replace(/ /g, "-");
}

/** Every heading anchor of a markdown text; repeated headings get -1, -2, ... as on GitHub. */
export function headingAnchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of withoutCode(text).split("\n")) {
    const m = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const slug = headingSlug(m[1]!);
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

/**
 * What is wrong with a link from `file` (relative to `root`), or null when it is fine:
 * `readFile` gives the text of a markdown file the link points into (for its anchors).
 */
export function linkProblem(
  root: string,
  file: string,
  target: string,
  readFile: (path: string) => string | null,
): string | null {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return null; // https:, mailto: ...: outside, not checked
  if (target.startsWith("//")) return `"${target}" is a protocol-relative URL; write the scheme`;
  if (target === "") return "empty link target";
  const [pathPart, fragment] = splitFragment(target);
  if (isAbsolute(pathPart) || pathPart.startsWith("/"))
    return `"${target}" is an absolute path; link relative to ${file}`;
  let decoded: string;
  try {
    decoded = decodeURI(pathPart.replace(/\?.*$/, ""));
  } catch {
    return `"${target}" is not a valid URI`;
  }
  const full = decoded === "" ? resolve(root, file) : resolve(root, dirname(file), decoded);
  const inRepo = relative(resolve(root), full);
  if (inRepo.startsWith("..") || isAbsolute(inRepo)) return `"${target}" leaves the repository (resolves to ${full})`;
  const text = readFile(inRepo);
  if (text === null) return `"${target}" does not exist (no ${inRepo})`;
  if (fragment !== undefined && /\.md$/i.test(inRepo) && !headingAnchors(text).has(fragment.toLowerCase())) {
    return `"${target}": ${inRepo} has no heading with anchor #${fragment}`;
  }
  return null;
}

function splitFragment(target: string): [string, string | undefined] {
  const at = target.indexOf("#");
  return at < 0 ? [target, undefined] : [target.slice(0, at), target.slice(at + 1)];
}

/** A reader for linkProblem over the real files: a file's text, "" for a folder, null when absent. */
export function repoReader(root: string): (path: string) => string | null {
  return (path) => {
    const full = join(root, path);
    if (!existsSync(full)) return null;
    return statSync(full).isDirectory() ? "" : readFileSync(full, "utf8");
  };
}

/** The repository's files, relative to `root`: tracked ones and new ones git does not ignore. */
export function repoFiles(root: string): string[] {
  const out = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 64 * 2 ** 20,
  });
  // regular files only: a deleted file git still tracks, or a symlinked folder, is no text to read
  return [
    ...new Set(
      out.split("\0").filter((f) => f !== "" && existsSync(join(root, f)) && statSync(join(root, f)).isFile()),
    ),
  ].sort();
}
