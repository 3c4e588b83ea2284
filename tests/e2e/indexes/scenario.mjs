// Secondary indexes written by the server, read by an unchanged client (the Deno runtime or
// @deno/kv): `crates/cairn/tests/e2e_indexes.rs` declares, through `cairn index create --url`,
//   by_email  on ["users"], field email, unique
//   by_city   on ["users"], fields city and name
// and then runs this scenario through deno.ts and node.mjs. Index entries are ordinary keys:
// the client lists and gets them, follows their values (the entry's key) back to the entry,
// sees a unique conflict as a failed check, and cannot write into an index's keyspace.
import { assert, assertEquals, check } from "../shared/_lib.mjs";

async function keysOf(kv, prefix) {
  const keys = [];
  for await (const entry of kv.list({ prefix })) keys.push(entry.key);
  return keys;
}

/** @param {import("../shared/_client.mjs").Client} client */
export async function run(client) {
  const kv = await client.openKv();
  const tag = client.env("CAIRN_E2E_TAG") ?? "x";
  const u = (name) => ["users", `${name}-${tag}`];

  await check("writing objects writes their index entries in the same commit", async () => {
    const result = await kv.atomic()
      .set(u("alice"), { email: `alice-${tag}@x`, city: "Oslo", name: "Alice" })
      .set(u("bob"), { email: `bob-${tag}@x`, city: "Oslo", name: "Bob" })
      .commit();
    assert(result.ok, "the write committed");
    const entry = await kv.get(["by_email", `alice-${tag}@x`, `alice-${tag}`]);
    assert(entry.value !== null, "the unique index holds alice");
    assertEquals(entry.value, u("alice"), "an index entry's value is the entry's key");
    assertEquals(entry.versionstamp, result.versionstamp, "written by the same commit");
  });

  await check("a compound index lists by its fields, and leads back to the entries", async () => {
    const keys = await keysOf(kv, ["by_city", "Oslo"]);
    const mine = keys.filter((k) => String(k[3]).endsWith(`-${tag}`));
    assertEquals(mine, [
      ["by_city", "Oslo", "Alice", `alice-${tag}`],
      ["by_city", "Oslo", "Bob", `bob-${tag}`],
    ], "index keys");
    for await (const entry of kv.list({ prefix: ["by_city", "Oslo", "Bob"] })) {
      const user = await kv.get(entry.value);
      assertEquals(user.value.name, "Bob", "followed the index entry");
    }
  });

  await check("a unique index refuses a second holder as a failed check", async () => {
    const result = await kv.atomic()
      .set(u("carol"), { email: `alice-${tag}@x`, city: "Bergen", name: "Carol" })
      .commit();
    assert(!result.ok, "the conflicting write must fail");
    assertEquals((await kv.get(u("carol"))).value, null, "nothing of it was written");
  });

  await check("changing and deleting entries moves and removes their index entries", async () => {
    await kv.set(u("alice"), { email: `alice2-${tag}@x`, city: "Bergen", name: "Alice" });
    await kv.delete(u("bob"));
    assertEquals(
      (await kv.get(["by_email", `alice-${tag}@x`, `alice-${tag}`])).value,
      null,
      "the old email's entry is gone",
    );
    assert(
      (await kv.get(["by_email", `alice2-${tag}@x`, `alice-${tag}`])).value !== null,
      "the new email's entry is there",
    );
    const oslo = (await keysOf(kv, ["by_city", "Oslo"]))
      .filter((k) => String(k[3]).endsWith(`-${tag}`));
    assertEquals(oslo, [], "nobody of this run left in Oslo");
    const freed = await kv.atomic()
      .set(u("carol"), { email: `alice-${tag}@x`, city: "Bergen", name: "Carol" })
      .commit();
    assert(freed.ok, "the old email is free again");
  });

  await check("an index's keyspace is the database's: a client write is refused", async () => {
    let refused = false;
    try {
      await kv.set(["by_email", "forged@x", "mallory"], 1);
    } catch (_e) {
      refused = true;
    }
    assert(refused, "writing an index entry by hand must fail");
    assertEquals((await kv.get(["by_email", "forged@x", "mallory"])).value, null, "not written");
  });

  await check("an expiring entry's index entry expires with it", async () => {
    await kv.set(u("dave"), { email: `dave-${tag}@x`, city: "Oslo", name: "Dave" }, {
      expireIn: 300,
    });
    const key = ["by_email", `dave-${tag}@x`, `dave-${tag}`];
    assert((await kv.get(key)).value !== null, "indexed while alive");
    const deadline = Date.now() + 30_000;
    while ((await kv.get(key)).value !== null) {
      assert(Date.now() < deadline, "the index entry outlived its entry");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
  kv.close();
}
