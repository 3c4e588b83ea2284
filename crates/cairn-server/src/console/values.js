// Typed JSON values (docs/http-api.md) shown the ways a person reads them: as a JavaScript
// literal, as pretty JSON, and bytes or a u64 as hex. Keys as JavaScript tuples, and key text
// typed by a person parsed back into a typed JSON key.

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** The value's kind, for the view's label. */
export function kind(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "Array";
  if (typeof value === "object") return value.$type && value.$type !== "object" ? value.$type : "Object";
  return typeof value;
}

/** True for a value the API returned read-only. */
export function isUnsupported(value) {
  return value !== null && typeof value === "object" && value.$type === "unsupported";
}

/** A key part as JavaScript: "users", 42, 42n, true, new Uint8Array([…]). */
export function partText(part) {
  if (typeof part === "string") return JSON.stringify(part);
  if (typeof part === "number" || typeof part === "boolean") return String(part);
  if (part && part.$type === "bigint") return `${part.value}n`;
  if (part && part.$type === "number") return part.value;
  if (part && part.$type === "Uint8Array") return `new Uint8Array([${bytesOf(part.base64).join(", ")}])`;
  return JSON.stringify(part);
}

/** A key as a JavaScript tuple: ["users", 42n]. */
export function keyText(key) {
  return `[${key.map(partText).join(", ")}]`;
}

/** The bytes of a base64 text. */
export function bytesOf(base64) {
  const binary = atob(base64);
  const out = new Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) out[i] = binary.charCodeAt(i);
  return out;
}

/** A typed JSON value as a JavaScript literal, indented. */
export function jsLiteral(value, indent = "") {
  const inner = `${indent}  `;
  const list = (open, items, close) =>
    items.length === 0 ? `${open}${close}` : `${open}\n${items.map((i) => inner + i).join(",\n")},\n${indent}${close}`;
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value !== "object") return String(value);
  if (Array.isArray(value)) return list("[", value.map((v) => jsLiteral(v, inner)), "]");
  switch (value.$type) {
    case undefined:
      return objectLiteral(value, indent);
    case "object":
      return objectLiteral(value.value, indent);
    case "undefined":
      return "undefined";
    case "number":
      return value.value;
    case "bigint":
      return `${value.value}n`;
    case "Date":
      return value.value === null ? "new Date(NaN)" : `new Date(${JSON.stringify(value.value)})`;
    case "RegExp":
      return `/${value.source}/${value.flags}`;
    case "Map":
      return `new Map(${list("[", value.entries.map(([k, v]) => `[${jsLiteral(k, inner)}, ${jsLiteral(v, inner)}]`), "]")})`;
    case "Set":
      return `new Set(${list("[", value.values.map((v) => jsLiteral(v, inner)), "]")})`;
    case "Uint8Array":
      return `new Uint8Array([${bytesOf(value.base64).join(", ")}])`;
    case "KvU64":
      return `new Deno.KvU64(${value.value}n)`;
    case "unsupported":
      return value.display;
    default:
      return JSON.stringify(value);
  }
}

function objectLiteral(fields, indent) {
  const inner = `${indent}  `;
  const entries = Object.entries(fields).map(
    ([k, v]) => `${IDENTIFIER.test(k) ? k : JSON.stringify(k)}: ${jsLiteral(v, inner)}`,
  );
  if (entries.length === 0) return "{}";
  return `{\n${entries.map((e) => inner + e).join(",\n")},\n${indent}}`;
}

/** The typed JSON, pretty. */
export function prettyJson(value) {
  return JSON.stringify(value, null, 2);
}

/** Hex views: a dump of bytes with offsets, or a u64 in decimal and hex; null otherwise. */
export function hexView(value) {
  if (value && value.$type === "Uint8Array") return hexDump(bytesOf(value.base64));
  if (value && value.$type === "KvU64") {
    const n = BigInt(value.value);
    return `${n} (u64)\n0x${n.toString(16).padStart(16, "0")}`;
  }
  if (value && value.$type === "unsupported") return hexDump(bytesOf(value.v8));
  return null;
}

function hexDump(bytes) {
  const lines = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const row = bytes.slice(offset, offset + 16);
    const hex = row.map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const text = row.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${offset.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  |${text}|`);
  }
  return lines.length ? lines.join("\n") : "(no bytes)";
}

/**
 * Key text typed by a person: a JavaScript-like tuple — strings in double or single quotes,
 * numbers (NaN, Infinity), bigints (42n), true/false — or the API's typed JSON. Throws with
 * a message on anything else.
 */
export function parseKey(text) {
  const source = text.trim();
  try {
    const json = JSON.parse(source);
    if (Array.isArray(json)) return json;
  } catch {
    // Not JSON: the JavaScript syntax below.
  }
  let at = 0;
  const fail = (what) => {
    throw new Error(`${what} at character ${at + 1} of the key (keys look like ["users", 42n, true])`);
  };
  const space = () => {
    while (at < source.length && /\s/.test(source[at])) at += 1;
  };
  const expect = (c) => {
    space();
    if (source[at] !== c) fail(`expected '${c}'`);
    at += 1;
  };
  const part = () => {
    space();
    const c = source[at];
    if (c === '"' || c === "'") {
      let end = at + 1;
      while (end < source.length && source[end] !== c) end += source[end] === "\\" ? 2 : 1;
      if (end >= source.length) fail("unterminated string");
      const body = source.slice(at + 1, end);
      at = end + 1;
      const escaped = c === '"' ? body : body.replace(/\\'/g, "'").replace(/"/g, '\\"');
      try {
        return JSON.parse(`"${escaped}"`);
      } catch {
        return fail("invalid string escape");
      }
    }
    const word = /^(-?Infinity|NaN|true|false|-?\d+n|-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)/.exec(source.slice(at));
    if (!word) return fail("expected a string, number, bigint or boolean");
    at += word[0].length;
    const w = word[0];
    if (w === "true" || w === "false") return w === "true";
    if (w.endsWith("n")) return { $type: "bigint", value: w.slice(0, -1) };
    if (w === "NaN" || w === "Infinity" || w === "-Infinity") return { $type: "number", value: w };
    const n = Number(w);
    if (Object.is(n, -0)) return { $type: "number", value: "-0" };
    return n;
  };
  expect("[");
  const parts = [];
  space();
  if (source[at] === "]") {
    at += 1;
  } else {
    for (;;) {
      parts.push(part());
      space();
      if (source[at] === ",") {
        at += 1;
        continue;
      }
      if (source[at] === "]") {
        at += 1;
        break;
      }
      fail("expected ',' or ']'");
    }
  }
  space();
  if (at !== source.length) fail("unexpected text after the key");
  return parts;
}
