// @deno/kv (Node.js) against a replicated database: N reads with { consistency: "eventual" };
// crates/cairn/tests/replication_eventual_reads.rs reads from the servers' metrics which
// endpoint served them.
//
//   node tests/e2e/replication/eventual_reads.mjs URL TOKEN N
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const toolsDir = process.env.CAIRN_E2E_TOOLS_DIR ??
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../tools");
const { openKv } = createRequire(path.join(toolsDir, "package.json"))("@deno/kv");
const [, , url, accessToken, n] = process.argv;
const kv = await openKv(url, { accessToken });
for (let i = 0; i < Number(n); i++) {
  const entry = await kv.get(["k"], { consistency: "eventual" });
  if (entry.value !== "v") throw new Error(`read ${i}: ${JSON.stringify(entry.value)}`);
}
console.log(`ok ${n} eventual reads`);
kv.close();
