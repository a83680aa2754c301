// Fails early, with the reason, when scripts would run on the wrong Node (the `node` devDependency
// puts Node 24 first on the PATH of every `pnpm run` script; if its install script was blocked we
// would silently test on the machine's Node 20).
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  console.error(
    `Node ${process.versions.node} is on the PATH; @artifacts needs Node >= 22. Run \`pnpm install\` so the \`node\` devDependency can provide Node 24.`,
  );
  process.exit(1);
}
