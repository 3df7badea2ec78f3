#!/usr/bin/env node
// The Solidity compiler as a command py-solc-x can run (its `solc_binary`), offline.
//
// Native solc cannot be downloaded here, but the npm package `solc` ships the whole compiler
// as wasm. `solcjs --standard-json` prints a banner before the JSON, so py-solc-x cannot parse
// it; this script answers the only two calls py-solc-x makes:
//   --version                                   prints "Version: 0.8.28+commit...."
//   --standard-json [--base-path P] [--allow-paths A,B]
//                                               standard JSON in on stdin, only JSON out on stdout
// Imports not inlined in the input are read from disk, relative to --base-path (default: the
// working directory), and only from inside the base path and the allowed paths.
"use strict";

const fs = require("fs");
const path = require("path");

function loadSolc() {
  try {
    return require("solc");
  } catch (err) {
    process.stderr.write("solc.cjs: the npm package 'solc' is missing: run `npm ci` in the project root\n");
    process.exit(3);
  }
}

function option(args, name) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : undefined;
}

function importReader(args) {
  const base = path.resolve(option(args, "--base-path") || process.cwd());
  const allowed = [base].concat(
    (option(args, "--allow-paths") || "").split(",").filter(Boolean).map((p) => path.resolve(p)),
  );
  const inside = (file) => allowed.some((dir) => file === dir || file.startsWith(dir + path.sep));
  return function findImports(unitName) {
    const file = path.resolve(base, unitName);
    if (!inside(file)) {
      return { error: `import ${unitName} is outside the base and allowed paths` };
    }
    try {
      return { contents: fs.readFileSync(file, "utf8") };
    } catch (err) {
      return { error: `cannot read import ${unitName}: ${err.message}` };
    }
  };
}

function main(args) {
  const solc = loadSolc();
  if (args.includes("--version")) {
    process.stdout.write(`solc.cjs, the solc-js compiler\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!args.includes("--standard-json")) {
    process.stderr.write("usage: solc.cjs --version | --standard-json [--base-path P] [--allow-paths A,B]\n");
    process.exit(2);
  }
  const input = fs.readFileSync(0, "utf8");
  process.stdout.write(solc.compile(input, { import: importReader(args) }));
}

main(process.argv.slice(2));
