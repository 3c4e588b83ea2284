// Access control and databases: a wrong token gets 401, a read-only token reads but cannot
// write, two databases on one server are isolated, and the metadata exchange hands out a
// derived data-path token bound to its database.
//
// Needs CAIRN_E2E_READ_ONLY_TOKEN (a read-only token of the server) in the environment.
import { assert, assertEquals, assertRejects, check, collect, requireEnv } from "./_lib.mjs";

/** @param {import("./_client.mjs").Client} client */
export async function run(client) {
  const { openKv, token: TOKEN, url: URL_DEFAULT } = client;
  /** The URL of the named database `name` on the same server (`<origin>/db/<name>`). */
  const dbUrl = (name) => new URL(`/db/${name}`, URL_DEFAULT).toString();
  const READ_ONLY_TOKEN = requireEnv(client, "CAIRN_E2E_READ_ONLY_TOKEN");
  const WRONG_TOKEN = `${TOKEN}-but-wrong`;
  const kv = await openKv();

  await check("a wrong token: openKv fails with 401", async () => {
    await assertRejects(
      () => openKv(URL_DEFAULT, WRONG_TOKEN),
      /401|unauthori[sz]ed/i,
      "openKv of the default database",
    );
    await assertRejects(
      () => openKv(dbUrl("alpha"), WRONG_TOKEN),
      /401|unauthori[sz]ed/i,
      "openKv of a named database",
    );
  });

  async function exchange(url, authorization) {
    const headers = { "content-type": "application/json" };
    if (authorization !== undefined) headers.authorization = authorization;
    return await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify({ supportedVersions: [1, 2, 3] }),
    });
  }

  async function metadata(url) {
    const res = await exchange(url, `Bearer ${TOKEN}`);
    assertEquals(res.status, 200, `metadata status for ${url}`);
    return await res.json();
  }

  await check("metadata exchange: 401 without or with a wrong token", async () => {
    for (
      const [authorization, what] of [[undefined, "no token"], [
        `Bearer ${WRONG_TOKEN}`,
        "wrong token",
      ], ["Basic eDp5", "not a bearer token"]]
    ) {
      const res = await exchange(URL_DEFAULT, authorization);
      await res.body?.cancel();
      assertEquals(res.status, 401, `status with ${what}`);
    }
  });

  await check(
    "metadata exchange: version 3, and a derived token rather than the access token",
    async () => {
      const res = await exchange(URL_DEFAULT, `Bearer ${TOKEN}`);
      assertEquals(res.headers.get("content-type"), "application/json", "content-type");
      const meta = await res.json();
      assertEquals(Object.keys(meta).sort(), [
        "databaseId",
        "endpoints",
        "expiresAt",
        "token",
        "version",
      ], "fields");
      assertEquals(meta.version, 3, "version");
      assert(
        meta.token !== TOKEN && meta.token !== "",
        "the data-path token is the access token itself",
      );
      assert(meta.endpoints.some((e) => e.consistency === "strong"), "no strong endpoint");
      assert(
        !Number.isNaN(Date.parse(meta.expiresAt)) && Date.parse(meta.expiresAt) > Date.now(),
        `expiresAt ${meta.expiresAt}`,
      );
    },
  );

  await check("a read-only token can read and watch", async () => {
    const written = await kv.set(["ro", "k"], "written by the read-write token");
    const ro = await openKv(URL_DEFAULT, READ_ONLY_TOKEN);
    try {
      const entry = await ro.get(["ro", "k"]);
      assertEquals([entry.value, entry.versionstamp], [
        "written by the read-write token",
        written.versionstamp,
      ], "entry");
      assertEquals((await collect(ro.list({ prefix: ["ro"] }))).length, 1, "listed entries");
      const reader = ro.watch([["ro", "k"]]).getReader();
      const { value } = await reader.read();
      await reader.cancel();
      assertEquals(value?.[0].versionstamp, written.versionstamp, "watched versionstamp");
    } finally {
      ro.close();
    }
  });

  await check(
    "a read-only token cannot write: every kind of write is refused, nothing changes",
    async () => {
      const before = await kv.get(["ro", "k"]);
      const ro = await openKv(URL_DEFAULT, READ_ONLY_TOKEN);
      const refused = /disabled|read.?only|forbidden|403/i;
      try {
        await assertRejects(() => ro.set(["ro", "k"], "overwritten"), refused, "set");
        await assertRejects(() => ro.set(["ro", "new"], 1), refused, "set of a new key");
        await assertRejects(() => ro.delete(["ro", "k"]), refused, "delete");
        await assertRejects(() => ro.atomic().sum(["ro", "n"], 1n).commit(), refused, "sum");
        await assertRejects(
          () => ro.atomic().check(before).set(["ro", "k"], "x").commit(),
          refused,
          "checked set",
        );
      } finally {
        ro.close();
      }
      assertEquals(await kv.get(["ro", "k"]), before, "the key after the refused writes");
      assertEquals(
        (await kv.getMany([["ro", "new"], ["ro", "n"]])).map((e) => e.value),
        [null, null],
        "keys the refused writes would create",
      );
    },
  );

  await check("two databases on one server are isolated", async () => {
    const alpha = await openKv(dbUrl("alpha"));
    const beta = await openKv(dbUrl("beta-2"));
    try {
      await alpha.set(["shared"], "alpha");
      await alpha.set(["only", "alpha"], 1);
      await beta.set(["shared"], "beta");
      assertEquals((await alpha.get(["shared"])).value, "alpha", "alpha's value");
      assertEquals((await beta.get(["shared"])).value, "beta", "beta's value");
      assertEquals((await beta.get(["only", "alpha"])).value, null, "alpha's key seen from beta");
      assertEquals(
        (await kv.get(["shared"])).value,
        null,
        "alpha's key seen from the default database",
      );
      assertEquals((await collect(beta.list({ prefix: ["only"] }))).length, 0, "beta's list");
      await beta.delete(["shared"]);
      assertEquals((await alpha.get(["shared"])).value, "alpha", "alpha after beta's delete");
      const ok = await beta.atomic().check({ key: ["only", "alpha"], versionstamp: null }).set([
        "only",
        "alpha",
      ], 2).commit();
      assert(ok.ok, "a must-not-exist check in beta saw alpha's key");
    } finally {
      alpha.close();
      beta.close();
    }
  });

  await check(
    "the database ids differ; the default database is the same with and without '/'",
    async () => {
      const ids = new Set([
        (await metadata(URL_DEFAULT)).databaseId,
        (await metadata(dbUrl("alpha"))).databaseId,
        (await metadata(dbUrl("beta-2"))).databaseId,
      ]);
      assertEquals(ids.size, 3, "distinct database ids");
      const slash = await openKv(new URL("/", URL_DEFAULT).toString());
      try {
        const res = await slash.set(["slash"], "via /");
        assertEquals(
          (await kv.get(["slash"])).versionstamp,
          res.versionstamp,
          "written via '/', read without",
        );
      } finally {
        slash.close();
      }
    },
  );

  await check("a data-path token of one database is refused by another", async () => {
    const alpha = await metadata(dbUrl("alpha"));
    const beta = await metadata(dbUrl("beta-2"));
    const endpoint = new URL(
      beta.endpoints.find((e) => e.consistency === "strong").url,
      dbUrl("beta-2"),
    );
    // SnapshotRead { ranges: [ReadRange { start: 01, end: ff, limit: 1 }] }
    const body = new Uint8Array([0x0a, 8, 0x0a, 1, 0x01, 0x12, 1, 0xff, 0x18, 1]);
    const read = async (token) => {
      const res = await fetch(`${endpoint}/snapshot_read`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/x-protobuf",
          "x-denokv-version": "3",
          "x-denokv-database-id": beta.databaseId,
        },
        body,
      });
      await res.body?.cancel();
      return res.status;
    };
    assertEquals(await read(beta.token), 200, "status with beta's own token");
    const status = await read(alpha.token);
    assert(status === 401 || status === 403, `status with alpha's token at beta: ${status}`);
    assertEquals(await read(TOKEN), 401, "status with the access token itself on the data path");
  });

  await check("a database name outside [a-z0-9_-] is refused", async () => {
    const res = await exchange(new URL("/db/Not.Valid", URL_DEFAULT).toString(), `Bearer ${TOKEN}`);
    await res.body?.cancel();
    assert(res.status >= 400 && res.status < 500, `status ${res.status}`);
  });

  kv.close();
}
