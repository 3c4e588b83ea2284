// The Deno runtime against a replicated database: N reads with { consistency: "eventual" }
// (which endpoint serves them is read from the servers' metrics by
// crates/cairn/tests/replication_eventual_reads.rs), then, with "--only-replica", a strong
// read and a write, whose refusals it prints.
//
//   deno run -A --unstable-kv tests/e2e/replication/eventual_reads.ts URL N [--only-replica]
const [url, n, mode] = Deno.args;
const kv = await Deno.openKv(url);
for (let i = 0; i < Number(n); i++) {
  const entry = await kv.get(["k"], { consistency: "eventual" });
  if (entry.value !== "v") throw new Error(`read ${i}: ${JSON.stringify(entry.value)}`);
}
console.log(`ok ${n} eventual reads`);
if (mode === "--only-replica") {
  try {
    await kv.get(["k"]);
    console.log("strong read: served");
  } catch (e) {
    console.log(`strong read: ${e.message}`);
  }
  try {
    await kv.set(["w"], 1);
    console.log("write: acknowledged");
  } catch (e) {
    console.log(`write: ${e.message}`);
  }
}
kv.close();
