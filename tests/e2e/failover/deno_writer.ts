// Writes ["deno", <tag>, n] = n for n = 0, 1, 2, … through the Deno runtime's KV Connect
// client, one at a time, and prints "acked <n> <unix ms>" once each write is acknowledged,
// or "failed <n> <unix ms> <message>" when the client gives up on one (a 4xx such as 424:
// the outcome is unknown, the writer goes on with the next n). Until it is killed. The
// failover tests (crates/cairn/tests/failover_*.rs) check every acknowledged write on the
// group's new primary, and measure the client's write unavailability from the times.
//
//   deno run -A --unstable-kv tests/e2e/failover/deno_writer.ts URL TAG
const [url, tag] = Deno.args;
// A member's metadata exchange answers 503 while it rebuilds its copy: open again.
let kv;
while (!kv) {
  try {
    kv = await Deno.openKv(url);
  } catch (e) {
    console.log(`failed open ${Date.now()} ${String(e).replaceAll("\n", " ")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
for (let n = 0; ; n++) {
  try {
    await kv.set(["deno", Number(tag), n], n);
    console.log(`acked ${n} ${Date.now()}`);
  } catch (e) {
    const message = String(e).replaceAll("\n", " ");
    console.log(`failed ${n} ${Date.now()} ${message}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
