// expireIn (expired keys disappear promptly) and watch (initial state, then every change,
// including deletes and expiry).
//
// No timing assertions: expiry is awaited with a bounded poll, and every watch step waits (with
// a bound) for the notification of the write it just made before making the next one.
import {
  assert,
  assertEquals,
  check,
  collect,
  committed,
  eventually,
  fail,
  within,
} from "./_lib.mjs";

/** The next notification of a watch stream (bounded wait). */
async function next(reader, what) {
  const { done, value } = await within(10_000, `watch notification: ${what}`, reader.read());
  if (done) fail(`watch stream ended while waiting for: ${what}`);
  return value;
}

function assertSnapshot(snap, expected, what) {
  assertEquals(snap.map((e) => [e.value, e.versionstamp]), expected, what);
}

/** @param {import("./_client.mjs").Client} client */
export async function run(client) {
  const kv = await client.openKv();
  const gone = async (key) => (await kv.get(key)).versionstamp === null;

  await check("expireIn: a key with a long expiry is readable", async () => {
    await kv.set(["exp", "long"], "stays", { expireIn: 600_000 });
    assertEquals((await kv.get(["exp", "long"])).value, "stays", "value");
  });

  await check("expireIn: an expired key is gone promptly from get, getMany and list", async () => {
    await kv.set(["exp", "keep"], "kept");
    await kv.set(["exp", "short"], "soon gone", { expireIn: 200 });
    await eventually("[exp, short] expired", () => gone(["exp", "short"]));
    const many = await kv.getMany([["exp", "short"], ["exp", "keep"]]);
    assertEquals(many.map((e) => e.value), [null, "kept"], "getMany after expiry");
    const listed = await collect(kv.list({ prefix: ["exp"] }));
    assertEquals(
      listed.map((e) => e.key),
      [["exp", "keep"], ["exp", "long"]],
      "list after expiry",
    );
  });

  await check(
    "expireIn in an atomic write; overwriting without expireIn clears the expiry",
    async () => {
      await kv.atomic()
        .set(["exp2", "clock"], 1, { expireIn: 200 })
        .set(["exp2", "renewed"], 1, { expireIn: 200 })
        .set(["exp2", "atomic"], 1, { expireIn: 200 })
        .commit();
      await kv.set(["exp2", "renewed"], 2);
      // ["exp2", "clock"] had the same expiry as the others: once it is gone, so must "atomic" be.
      await eventually("[exp2, clock] expired", () => gone(["exp2", "clock"]));
      await eventually("[exp2, atomic] expired", () => gone(["exp2", "atomic"]));
      assertEquals((await kv.get(["exp2", "renewed"])).value, 2, "the overwritten key");
    },
  );

  await check("an expired key can be written again", async () => {
    await kv.set(["exp", "short"], "back");
    assertEquals((await kv.get(["exp", "short"])).value, "back", "value");
  });

  await check("watch: initial state, then each change", async () => {
    // ["w", "a"] has a value when the watch starts, so every client reports the initial state.
    const a = await kv.set(["w", "a"], "a0");
    const reader = kv.watch([["w", "a"], ["w", "b"]]).getReader();
    try {
      const initial = await next(reader, "initial state");
      assertEquals(
        initial.map((e) => e.key),
        [["w", "a"], ["w", "b"]],
        "keys of the initial state",
      );
      assertSnapshot(initial, [["a0", a.versionstamp], [null, null]], "initial state");

      const a1 = await kv.set(["w", "a"], "a1");
      assertSnapshot(
        await next(reader, "set a"),
        [["a1", a1.versionstamp], [null, null]],
        "after set a",
      );

      const b1 = await kv.set(["w", "b"], "b1");
      assertSnapshot(
        await next(reader, "set b"),
        [["a1", a1.versionstamp], ["b1", b1.versionstamp]],
        "after set b",
      );

      await kv.delete(["w", "a"]);
      assertSnapshot(
        await next(reader, "delete a"),
        [[null, null], ["b1", b1.versionstamp]],
        "after delete a",
      );

      const both = committed(
        await kv.atomic().set(["w", "a"], "a2").set(["w", "b"], "b2").commit(),
        "set of both",
      );
      assertSnapshot(
        await next(reader, "atomic set of both"),
        [["a2", both.versionstamp], ["b2", both.versionstamp]],
        "after the atomic set of both",
      );

      // A write to an unwatched key in between: the next notification is still for this write.
      await kv.set(["w", "unwatched"], 1);
      const b3 = await kv.set(["w", "b"], "b3");
      assertSnapshot(
        await next(reader, "set b again"),
        [["a2", both.versionstamp], ["b3", b3.versionstamp]],
        "after set b again",
      );
    } finally {
      await reader.cancel();
    }
  });

  await check("watch: a burst of writes ends on the latest state", async () => {
    await kv.set(["w", "burst"], 0);
    const reader = kv.watch([["w", "burst"]]).getReader();
    try {
      assertEquals((await next(reader, "initial state"))[0].value, 0, "initial value");
      let last;
      for (let i = 1; i <= 50; i++) last = await kv.set(["w", "burst"], i);
      // Intermediate states may be coalesced; the latest must arrive.
      for (let n = 0;; n++) {
        assert(n <= 50, "more notifications than writes");
        const [entry] = await next(reader, "the last write of the burst");
        if (entry.versionstamp === last.versionstamp) {
          assertEquals(entry.value, 50, "latest value");
          break;
        }
      }
    } finally {
      await reader.cancel();
    }
  });

  await check("watch: two streams on one key both see the change", async () => {
    // Where the client holds back an all-absent initial state (see
    // watchReportsAbsentInitialState), the key gets a value before the watch starts.
    const before = client.watchReportsAbsentInitialState
      ? null
      : await kv.set(["w", "shared"], "s0");
    const initial = before === null ? [[null, null]] : [["s0", before.versionstamp]];
    const r1 = kv.watch([["w", "shared"]]).getReader();
    const r2 = kv.watch([["w", "shared"]]).getReader();
    try {
      assertSnapshot(await next(r1, "initial state (1)"), initial, "initial state (1)");
      assertSnapshot(await next(r2, "initial state (2)"), initial, "initial state (2)");
      const res = await kv.set(["w", "shared"], "s");
      assertSnapshot(await next(r1, "change (1)"), [["s", res.versionstamp]], "change (1)");
      assertSnapshot(await next(r2, "change (2)"), [["s", res.versionstamp]], "change (2)");
    } finally {
      await r1.cancel();
      await r2.cancel();
    }
  });

  await check("watch: an expiry is reported", async () => {
    // Where the client holds back an all-absent initial state, an anchor key with a value is
    // watched too, ahead of the expiring one.
    const anchored = !client.watchReportsAbsentInitialState;
    const anchor = anchored ? await kv.set(["w", "anchor"], "stays") : null;
    const keys = anchored ? [["w", "anchor"], ["w", "expiring"]] : [["w", "expiring"]];
    const anchorState = anchored ? [["stays", anchor.versionstamp]] : [];
    const reader = kv.watch(keys).getReader();
    try {
      assertSnapshot(
        await next(reader, "initial state"),
        [...anchorState, [null, null]],
        "initial state",
      );
      await kv.set(["w", "expiring"], "short-lived", { expireIn: 300 });
      // Usually the value, then its expiry; a slow run may see only the expiry.
      for (let n = 0;; n++) {
        assert(n < 3, "no expiry notification after 3 notifications");
        const snap = await next(reader, "expiry of the watched key");
        const entry = snap[snap.length - 1];
        if (entry.versionstamp === null) break;
        assertEquals(entry.value, "short-lived", `notification ${n}`);
      }
    } finally {
      await reader.cancel();
    }
  });

  await check("the connection still works after the watch streams were closed", async () => {
    const res = await kv.set(["w", "after"], 1);
    assertEquals((await kv.get(["w", "after"])).versionstamp, res.versionstamp, "versionstamp");
  });

  kv.close();
}
