// Typed JSON ⇄ V8 against the real Deno runtime, both ways:
//   - values Deno writes (kv.set) read through the JSON API as the expected typed JSON;
//   - typed JSON written through the JSON API (cairn's own V8 encoder) read by Deno (kv.get)
//     as the expected JavaScript values, and a value the API cannot represent kept read-only.
// Run by crates/cairn/tests/api_values_deno.rs:
//   DENO_KV_ACCESS_TOKEN=<rw> deno run -A --unstable-kv tests/e2e/api/values_deno.ts <url>
// Prints "ok <check>" per check; throws at the first failure.

const url = Deno.args[0];
const token = Deno.env.get("DENO_KV_ACCESS_TOKEN") ?? "";
const kv = await Deno.openKv(url);

function same(a: unknown, b: unknown): boolean {
  if (typeof a === "number" && typeof b === "number") return Object.is(a, b);
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return a === b;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Date) return Object.is(a.getTime(), (b as Date).getTime());
  if (a instanceof RegExp) return a.source === (b as RegExp).source && a.flags === (b as RegExp).flags;
  if (a instanceof Uint8Array) return a.length === (b as Uint8Array).length && a.every((x, i) => x === (b as Uint8Array)[i]);
  if (a instanceof Deno.KvU64) return a.value === (b as Deno.KvU64).value;
  if (a instanceof Map) return same([...a], [...(b as Map<unknown, unknown>)]);
  if (a instanceof Set) return same([...a], [...(b as Set<unknown>)]);
  const ka = Reflect.ownKeys(a);
  const kb = Reflect.ownKeys(b);
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && same((a as never)[k], (b as never)[k]));
}

function show(v: unknown): string {
  return Deno.inspect(v, { depth: 10 });
}

async function api(method: string, key: unknown[], body?: unknown) {
  const response = await fetch(`${url}/api/v1/databases/default/entry?key=${encodeURIComponent(JSON.stringify(key))}`, {
    method,
    headers: { authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

// Each case: a JavaScript value and its typed JSON.
const cases: [string, unknown, unknown][] = [
  ["string", "héllo € 😀", "héllo € 😀"],
  ["integer", 42, 42],
  ["double", -1.5, -1.5],
  ["large", 2 ** 53, 9007199254740992],
  ["nan", NaN, { $type: "number", value: "NaN" }],
  ["negative-zero", -0, { $type: "number", value: "-0" }],
  ["infinity", -Infinity, { $type: "number", value: "-Infinity" }],
  ["null", null, null],
  ["undefined", undefined, { $type: "undefined" }],
  ["true", true, true],
  ["bigint", -123456789012345678901234567890n, { $type: "bigint", value: "-123456789012345678901234567890" }],
  ["date", new Date("2024-05-01T12:00:00.123Z"), { $type: "Date", value: "2024-05-01T12:00:00.123Z" }],
  ["old-date", new Date(-62198755200000), { $type: "Date", value: "-000001-01-01T00:00:00.000Z" }],
  ["invalid-date", new Date(NaN), { $type: "Date", value: null }],
  ["regexp", /^a+(b|c)$/gimsuy, { $type: "RegExp", source: "^a+(b|c)$", flags: "gimsuy" }],
  ["map", new Map<unknown, unknown>([["a", 1], [2n, [true]]]), { $type: "Map", entries: [["a", 1], [{ $type: "bigint", value: "2" }, [true]]] }],
  ["set", new Set(["x", undefined]), { $type: "Set", values: ["x", { $type: "undefined" }] }],
  ["bytes", new Uint8Array([0, 1, 255]), { $type: "Uint8Array", base64: "AAH/" }],
  ["u64", new Deno.KvU64(18446744073709551615n), { $type: "KvU64", value: "18446744073709551615" }],
  ["nested-bytes", { raw: new Uint8Array([1, 2, 3]) }, { raw: { $type: "Uint8Array", base64: "AQID" } }],
  ["own-type-key", { $type: "mine", n: 1 }, { $type: "object", value: { $type: "mine", n: 1 } }],
  [
    "object",
    { name: "Alice", tags: ["a", 2, null], nested: { deep: [[[]]] }, "0": "index key", "two words": "é" },
    { "0": "index key", name: "Alice", tags: ["a", 2, null], nested: { deep: [[[]]] }, "two words": "é" },
  ],
  ["array", [1, "two", [3]], [1, "two", [3]]],
];

// Deno writes, the API reads.
for (const [name, value, typed] of cases) {
  await kv.set(["deno", name], value);
  const read = await api("GET", ["deno", name]);
  if (read.status !== 200 || !same(read.json.value, typed)) {
    throw new Error(`${name}: Deno wrote ${show(value)}, the API read ${JSON.stringify(read.json)}, expected ${JSON.stringify(typed)}`);
  }
}
console.log(`ok the API reads ${cases.length} kinds of value Deno wrote`);

// The API writes, Deno reads.
for (const [name, value, typed] of cases) {
  const written = await api("PUT", ["api", name], typed);
  if (written.status !== 200) throw new Error(`${name}: PUT ${JSON.stringify(typed)}: ${JSON.stringify(written)}`);
  const read = await kv.get(["api", name]);
  if (!same(read.value, value)) {
    throw new Error(`${name}: the API wrote ${JSON.stringify(typed)}, Deno read ${show(read.value)}, expected ${show(value)}`);
  }
  if (read.versionstamp !== written.json.versionstamp) throw new Error(`${name}: versionstamps differ`);
}
console.log(`ok Deno reads ${cases.length} kinds of value the API wrote`);

// A value the API cannot represent (one object reached twice) is read-only and kept as is.
const shared = { city: "Lyon" };
await kv.set(["deno", "shared"], { home: shared, work: shared });
const read = await api("GET", ["deno", "shared"]);
if (read.json.value.$type !== "unsupported") throw new Error(`shared: ${JSON.stringify(read.json)}`);
const refused = await api("PUT", ["deno", "shared"], read.json.value);
if (refused.status !== 400) throw new Error(`writing back an unsupported value: ${JSON.stringify(refused)}`);
const kept = (await kv.get<{ home: object; work: object }>(["deno", "shared"])).value!;
if (kept.home !== kept.work) throw new Error("the shared reference was altered");
console.log("ok a shared reference is read-only through the API and left intact");
kv.close();
