// Hardhat 2 configuration: compiles contracts/ offline with the same compiler and settings as
// anchoring/compile.py (both read contracts/solc-settings.json), and runs a local node.
//
// Hardhat would download solc; here it is pointed at the wasm compiler in node_modules/solc.
// Artifacts and cache go under build/ (git-ignored); ONECLAIM_HARDHAT_ARTIFACTS and
// ONECLAIM_HARDHAT_CACHE move them (tests compile into a temporary folder).
// `npx hardhat node` must be given `--hostname 127.0.0.1`: it binds every interface otherwise.
"use strict";

const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");
const solcConfig = require("./contracts/solc-settings.json");

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args, hre, runSuper) => {
  if (args.solcVersion !== solcConfig.version) {
    return runSuper(args);
  }
  const solc = require("solc");
  return {
    compilerPath: require.resolve("solc/soljson.js"),
    isSolcJs: true,
    version: args.solcVersion,
    longVersion: solc.version(),
  };
});

/** @type import('hardhat/config').HardhatUserConfig */
module.exports = {
  solidity: {
    version: solcConfig.version,
    settings: solcConfig.settings,
  },
  paths: {
    sources: "./contracts",
    artifacts: process.env.ONECLAIM_HARDHAT_ARTIFACTS || "./build/hardhat/artifacts",
    cache: process.env.ONECLAIM_HARDHAT_CACHE || "./build/hardhat/cache",
  },
  networks: {
    hardhat: { chainId: 31337 },
    localhost: { url: "http://127.0.0.1:8545", chainId: 31337 },
  },
};
