// Enqueues messages through @deno/kv (Node.js) for `crates/cairn/tests/e2e_queue.rs`, which
// consumes them with a cairn-client listener. Prints `payload <hex>` per message: the V8
// serialization of the value by node:v8, which is what @deno/kv sends, so the Rust side can
// compare the bytes it receives with exactly these. Run as
//   node tests/e2e/queue/node_enqueue.mjs <url> <token>
import v8 from "node:v8";
import { assert, check, finish, openKv } from "../node/_lib.mjs";

const kv = await openKv();

const values = [
  "hello from @deno/kv",
  { order: 42, items: ["a", "b"], paid: true },
  12345678901234567890n,
  new Uint8Array([0, 1, 2, 255]),
];

await check("kv.enqueue() of every value commits", async () => {
  for (const value of values) {
    const result = await kv.enqueue(value);
    assert(result.ok, `enqueue of ${String(value)} did not report ok`);
  }
});

await check("an atomic enqueue with a failing check enqueues nothing", async () => {
  await kv.set(["queue_e2e", "guard"], 1);
  const result = await kv.atomic()
    .check({ key: ["queue_e2e", "guard"], versionstamp: null })
    .enqueue("must never be delivered")
    .commit();
  assert(!result.ok, "the check should have failed");
});

for (const value of values) {
  console.log(`payload ${Buffer.from(v8.serialize(value)).toString("hex")}`);
}
finish(kv);
