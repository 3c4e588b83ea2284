// The JSON API (/api/v1), as the console uses it. The token travels in the Authorization
// header of each request and nowhere else: not a cookie (no other site can send it), not a
// URL (it would end up in logs and history).

const BASE = "/api/v1";

/** An answer that is not a success: status, the API's error code and its reason. */
export class ApiError extends Error {
  constructor(status, code, reason, body) {
    super(reason);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** A key (typed JSON tuple) as a query value. */
export function keyParam(key) {
  return JSON.stringify(key);
}

export class Api {
  constructor(token) {
    this.token = token;
  }

  /** One request; resolves to { status, etag, json } or throws ApiError. */
  async request(method, path, { query = {}, headers = {}, body } = {}) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value === undefined || value === null) continue;
      for (const one of Array.isArray(value) ? value : [value]) params.append(name, String(one));
    }
    const search = params.toString();
    const response = await fetch(`${BASE}${path}${search ? `?${search}` : ""}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
    const text = await response.text();
    let json = null;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
    }
    if (!response.ok && response.status !== 304) {
      const code = json?.error ?? `http_${response.status}`;
      const reason = json?.reason ?? (text || response.statusText);
      throw new ApiError(response.status, code, reason, json);
    }
    return { status: response.status, etag: response.headers.get("etag"), json };
  }

  databases() {
    return this.request("GET", "/databases").then((r) => r.json);
  }

  db(name) {
    return `/databases/${encodeURIComponent(name)}`;
  }

  entry(db, key) {
    return this.request("GET", `${this.db(db)}/entry`, { query: { key: keyParam(key) } }).then((r) => r.json);
  }

  /** PUT of a typed value; `condition` is { ifMatch: versionstamp } or { ifNoneMatch: true }. */
  put(db, key, value, condition = {}) {
    return this.request("PUT", `${this.db(db)}/entry`, {
      query: { key: keyParam(key) },
      headers: conditionHeaders(condition),
      body: value,
    }).then((r) => r.json);
  }

  remove(db, key, condition = {}) {
    return this.request("DELETE", `${this.db(db)}/entry`, {
      query: { key: keyParam(key) },
      headers: conditionHeaders(condition),
    }).then((r) => r.json);
  }

  children(db, prefix, cursor, limit = 100) {
    return this.request("GET", `${this.db(db)}/children`, {
      query: { prefix: keyParam(prefix), cursor, limit },
    }).then((r) => r.json);
  }

  count(db, prefix) {
    return this.request("GET", `${this.db(db)}/count`, { query: { prefix: keyParam(prefix) } }).then((r) => r.json);
  }

  queue(db) {
    return this.request("GET", `${this.db(db)}/queue`).then((r) => r.json);
  }

  stats(db) {
    return this.request("GET", `${this.db(db)}/stats`).then((r) => r.json);
  }

  /**
   * A watch as Server-Sent Events, read with fetch (EventSource cannot send the header).
   * `params` is { key: [keys] } or { prefix: key }; `onEvent(name, data)` gets each event.
   * Resolves when the stream ends; `signal` aborts it.
   */
  async watch(db, params, onEvent, signal) {
    const query = new URLSearchParams();
    for (const key of params.key ?? []) query.append("key", keyParam(key));
    if (params.prefix) query.append("prefix", keyParam(params.prefix));
    const response = await fetch(`${BASE}${this.db(db)}/watch?${query}`, {
      headers: { authorization: `Bearer ${this.token}` },
      cache: "no-store",
      credentials: "omit",
      signal,
    });
    if (!response.ok) {
      const json = await response.json().catch(() => null);
      throw new ApiError(response.status, json?.error, json?.reason ?? response.statusText, json);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data) onEvent(name, JSON.parse(data));
      }
    }
  }
}

function conditionHeaders(condition) {
  if (condition.ifMatch) return { "if-match": `"${condition.ifMatch}"` };
  if (condition.ifNoneMatch) return { "if-none-match": "*" };
  return {};
}
