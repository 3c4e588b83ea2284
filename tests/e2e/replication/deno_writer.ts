// Writes ["deno", <tag>, n] = n for n = 0, 1, 2, … through the Deno runtime's KV Connect
// client and prints "acked <n>" once each write is acknowledged, until it is killed. The
// failover test (crates/cairn/tests/replication_failover.rs) kills the primary under it and
// checks every printed write on the promoted replica.
//
//   deno run -A --unstable-kv tests/e2e/replication/deno_writer.ts URL TAG
const [url, tag] = Deno.args;
const kv = await Deno.openKv(url);
for (let n = 0; ; n++) {
  await kv.set(["deno", Number(tag), n], n);
  console.log(`acked ${n}`);
}
