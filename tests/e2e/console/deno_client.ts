// The real Deno client's part in the console's browser test (console.mjs runs it):
//   DENO_KV_ACCESS_TOKEN=<read-write token> deno run -A --unstable-kv deno_client.ts <url> <action>
// Actions:
//   seed          10,000 keys ["items", i], and ["users", "alice"]: an object with every kind
//                 of value the console decodes (Date, bigint, Map, Set, Uint8Array, undefined,
//                 nested objects), plus ["notes", "html"] holding markup that must stay text
//   rename-alice  another client's change of ["users", "alice"] (the console's edit is stale)
//   move-alice    a further change, which the console's watch must show
//   new-item      a new key under ["items"], for the prefix watch
// Prints "ok <action>" when done.

const [url, action] = Deno.args;
const kv = await Deno.openKv(url);

async function seed() {
  for (let start = 0; start < 10_000; start += 1000) {
    const op = kv.atomic();
    for (let i = start; i < start + 1000; i += 1) op.set(["items", i], { n: i, label: `item ${i}` });
    const result = await op.commit();
    if (!result.ok) throw new Error(`seeding items from ${start} failed`);
  }
  await kv.set(["users", "alice"], {
    name: "Alice",
    born: new Date("1990-01-02T03:04:05.000Z"),
    score: 12345678901234567890n,
    roles: new Set(["admin", "ops"]),
    prefs: new Map([["theme", "dark"], ["lang", "en"]]),
    avatar: new Uint8Array([1, 2, 3]),
    nickname: undefined,
    address: { city: "Lyon", zip: "69001" },
  });
  await kv.set(["notes", "html"], '<img src=x onerror="document.title=\'pwned\'"><b>bold?</b>');
}

switch (action) {
  case "seed":
    await seed();
    break;
  case "rename-alice":
    await kv.set(["users", "alice"], { name: "Alice Renamed", changedBy: "deno" });
    break;
  case "move-alice":
    await kv.set(["users", "alice"], { name: "Alice", city: "Paris", changedBy: "deno-watch" });
    break;
  case "new-item":
    await kv.set(["items", 10_000], { n: 10_000, label: "added by deno" });
    break;
  default:
    throw new Error(`unknown action ${action}`);
}
kv.close();
console.log(`ok ${action}`);
