// One entry: its key and versionstamp, its value shown as JavaScript, pretty JSON or hex, and
// (for a read-write token) editing, creating and deleting, each conditional on the
// versionstamp shown: if anyone changed the entry meanwhile the server refuses (412) and the
// panel says so, with nothing overwritten and the edit kept. A live watch shows changes by
// other writers as they commit.

import { el, replace, size } from "./dom.js";
import { ApiError } from "./api.js";
import { hexView, isUnsupported, jsLiteral, keyText, kind, parseKey, prettyJson } from "./values.js";

/** Characters of a value shown before "Show all". */
const PREVIEW_CHARS = 20000;

export class EntryPanel {
  constructor(app, root) {
    this.app = app;
    this.root = root;
    this.view = "js";
    this.clearState();
    this.renderEmpty();
  }

  clearState() {
    this.stopWatch();
    this.key = null;
    this.entry = null;
    this.editing = false;
    this.full = false;
  }

  get writable() {
    return this.app.access === "read-write";
  }

  renderEmpty() {
    const parts = [
      el("h2", { text: "Entry" }),
      el("p", { class: "hint", text: "Choose a key in the tree." }),
    ];
    if (this.writable) parts.push(el("button", { text: "New entry", id: "new-entry", on: { click: () => this.create() } }));
    replace(this.root, ...parts);
  }

  /** Shows the entry of `key`. */
  async open(key) {
    this.clearState();
    this.key = key;
    await this.reload();
  }

  async reload(notice) {
    const key = this.key;
    try {
      this.entry = await this.app.api.entry(this.app.db, key);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) return this.app.report(error);
      this.entry = null;
    }
    if (key !== this.key) return undefined;
    this.editing = false;
    this.render(notice);
    return undefined;
  }

  render(notice) {
    const entry = this.entry;
    const head = [
      el("h2", { text: "Entry" }),
      el("div", { class: "field" }, [el("span", { class: "label", text: "key" }), el("code", { id: "entry-key", text: keyText(this.key) })]),
    ];
    this.notice = el("div", { id: "entry-notice", class: "notice", attrs: { role: "status", "aria-live": "polite" } });
    if (notice) this.say(notice.text, notice.kind);
    if (!entry) {
      replace(this.root, ...head, this.notice, el("p", { class: "hint", id: "entry-missing", text: "No entry for this key." }), this.toolbar());
      return;
    }
    const value = entry.value;
    const views = [["js", "JavaScript"], ["json", "JSON"]];
    if (hexView(value) !== null) views.push(["hex", "Hex"]);
    if (!views.some(([v]) => v === this.view)) this.view = "js";
    const text = this.text(value);
    const tabs = el(
      "div",
      { class: "tabs", attrs: { role: "tablist" } },
      views.map(([id, label]) =>
        el("button", {
          text: label,
          class: id === this.view ? "tab selected" : "tab",
          attrs: { role: "tab", "aria-selected": id === this.view, "data-view": id },
          on: {
            click: () => {
              this.view = id;
              this.render();
            },
          },
        }),
      ),
    );
    const shown = this.full || text.length <= PREVIEW_CHARS ? text : `${text.slice(0, PREVIEW_CHARS)}\n…`;
    const meta = el("div", { class: "meta" }, [
      el("span", { class: "label", text: "versionstamp" }),
      el("code", { id: "entry-versionstamp", text: entry.versionstamp }),
      el("span", { class: "kind", id: "entry-kind", text: kind(value) }),
      el("span", { class: "size", text: `${text.length.toLocaleString("en-US")} characters` }),
    ]);
    const parts = [...head, meta, this.notice, tabs, el("pre", { class: "value", id: "entry-value", text: shown })];
    if (shown !== text) {
      parts.push(
        el("button", {
          text: `Show all ${size(text.length)} of text`,
          on: {
            click: () => {
              this.full = true;
              this.render();
            },
          },
        }),
      );
    }
    if (isUnsupported(value)) {
      parts.push(
        el("p", {
          class: "hint",
          id: "entry-read-only",
          text: `Read-only: ${value.reason}. The JSON API cannot represent this value without changing it, so it is shown as a JavaScript console would and cannot be edited here.`,
        }),
      );
    }
    parts.push(this.toolbar());
    replace(this.root, ...parts);
  }

  text(value) {
    if (this.view === "json") return prettyJson(value);
    if (this.view === "hex") return hexView(value) ?? "";
    return jsLiteral(value);
  }

  toolbar() {
    const buttons = [];
    if (this.writable && this.entry && !isUnsupported(this.entry.value)) {
      buttons.push(el("button", { text: "Edit", id: "edit-entry", on: { click: () => this.edit() } }));
    }
    if (this.writable && this.entry) {
      buttons.push(el("button", { text: "Delete", id: "delete-entry", class: "danger", on: { click: () => this.confirmDelete() } }));
    }
    if (this.writable && !this.entry) {
      buttons.push(el("button", { text: "Create", id: "create-here", on: { click: () => this.create(this.key) } }));
    }
    buttons.push(
      el("button", {
        text: this.watching ? "Stop watching" : "Watch",
        id: "watch-entry",
        on: { click: () => this.toggleWatch() },
      }),
    );
    buttons.push(el("button", { text: "Reload", id: "reload-entry", on: { click: () => this.reload() } }));
    this.actions = el("div", { class: "actions" }, buttons);
    return this.actions;
  }

  say(text, kind = "info") {
    if (!this.notice) return;
    this.notice.className = `notice ${kind}`;
    this.notice.textContent = text;
  }

  edit() {
    this.editing = true;
    const editor = el("textarea", {
      id: "entry-editor",
      attrs: { spellcheck: "false", rows: 16, "aria-label": "value as typed JSON" },
    });
    editor.value = prettyJson(this.entry.value);
    const save = el("button", { text: "Save", id: "save-entry", class: "primary", on: { click: () => this.save(editor.value) } });
    const cancel = el("button", { text: "Cancel", on: { click: () => this.render() } });
    replace(
      this.actions,
      el("p", {
        class: "hint",
        text: `Typed JSON: bigints as {"$type": "bigint", "value": "12"}, dates as {"$type": "Date", "value": "…Z"} (see the JSON API docs). Saved only if the entry is still at ${this.entry.versionstamp}.`,
      }),
      editor,
      el("div", { class: "buttons" }, [save, cancel]),
    );
    editor.focus();
  }

  async save(text) {
    let value;
    try {
      value = JSON.parse(text);
    } catch (error) {
      this.say(`Not JSON: ${error.message}`, "error");
      return;
    }
    const expected = this.entry.versionstamp;
    try {
      await this.app.api.put(this.app.db, this.key, value, { ifMatch: expected });
      await this.reload({ text: "Saved.", kind: "ok" });
    } catch (error) {
      this.writeFailed(error);
    }
  }

  writeFailed(error) {
    if (error instanceof ApiError && error.status === 412) {
      this.say(
        `Conflict: this entry changed after you opened it, so nothing was overwritten. ${error.message}. Your edit is kept; load the current version to start again.`,
        "conflict",
      );
      if (!this.actions.querySelector("#load-current")) {
        this.actions.append(el("button", { text: "Load the current version", id: "load-current", on: { click: () => this.reload() } }));
      }
      return;
    }
    if (error instanceof ApiError) {
      this.say(`Refused (${error.status}): ${error.message}`, "error");
      return;
    }
    this.app.report(error);
  }

  confirmDelete() {
    const expected = this.entry.versionstamp;
    replace(
      this.actions,
      el("span", { class: "warn", text: `Delete ${keyText(this.key)} (only if still at ${expected})?` }),
      el("button", {
        text: "Delete",
        id: "confirm-delete",
        class: "danger",
        on: {
          click: async () => {
            try {
              await this.app.api.remove(this.app.db, this.key, { ifMatch: expected });
              this.app.tree.open(this.app.tree.prefix);
              await this.reload({ text: "Deleted.", kind: "ok" });
            } catch (error) {
              this.writeFailed(error);
            }
          },
        },
      }),
      el("button", { text: "Cancel", on: { click: () => this.render() } }),
    );
  }

  /** The form for a new entry (at `key`, or a key typed in). */
  create(key) {
    this.clearState();
    const keyInput = el("input", { id: "new-key", attrs: { placeholder: '["users", "carol"]', spellcheck: "false", "aria-label": "key" } });
    if (key) keyInput.value = keyText(key);
    const valueInput = el("textarea", { id: "new-value", attrs: { rows: 8, spellcheck: "false", "aria-label": "value as typed JSON" } });
    valueInput.value = "{}";
    this.notice = el("div", { id: "entry-notice", class: "notice", attrs: { role: "status" } });
    const submit = async () => {
      let parsedKey;
      let value;
      try {
        parsedKey = parseKey(keyInput.value);
        value = JSON.parse(valueInput.value);
      } catch (error) {
        this.say(error.message, "error");
        return;
      }
      try {
        await this.app.api.put(this.app.db, parsedKey, value, { ifNoneMatch: true });
        this.key = parsedKey;
        this.app.tree.open(this.app.tree.prefix);
        await this.reload({ text: "Created.", kind: "ok" });
      } catch (error) {
        if (error instanceof ApiError && error.status === 412) {
          this.say(`Conflict: an entry with this key exists already; nothing was overwritten. ${error.message}`, "conflict");
        } else if (error instanceof ApiError) {
          this.say(`Refused (${error.status}): ${error.message}`, "error");
        } else {
          this.app.report(error);
        }
      }
    };
    this.actions = el("div", { class: "buttons" }, [
      el("button", { text: "Create", id: "create-entry", class: "primary", on: { click: submit } }),
      el("button", { text: "Cancel", on: { click: () => this.renderEmpty() } }),
    ]);
    replace(
      this.root,
      el("h2", { text: "New entry" }),
      el("label", { text: "Key (JavaScript tuple or typed JSON)" }, [keyInput]),
      el("label", { text: "Value (typed JSON)" }, [valueInput]),
      this.notice,
      this.actions,
    );
  }

  toggleWatch() {
    if (this.watching) {
      this.stopWatch();
      this.render();
      return;
    }
    const key = this.key;
    const controller = new AbortController();
    this.watching = controller;
    this.app.api
      .watch(this.app.db, { key: [key] }, (name, data) => this.changed(key, name, data), controller.signal)
      .catch((error) => {
        if (error.name !== "AbortError") this.app.report(error);
      })
      .finally(() => {
        if (this.watching === controller) this.watching = null;
      });
    if (this.editing) return;
    this.render({ text: "Watching: changes by any writer show here as they commit.", kind: "info" });
  }

  stopWatch() {
    if (this.watching) this.watching.abort();
    this.watching = null;
  }

  changed(key, name, data) {
    if (name !== "entries" || key !== this.key) return;
    const now = data[0];
    const before = this.entry?.versionstamp ?? null;
    if (now.versionstamp === before) return;
    const time = new Date().toLocaleTimeString();
    if (this.editing) {
      this.say(`Changed by another writer at ${time} (now ${now.versionstamp ?? "deleted"}): saving your edit will be refused.`, "conflict");
      return;
    }
    this.entry = now.versionstamp === null ? null : now;
    this.render({ text: `Live: ${now.versionstamp === null ? "deleted" : "changed"} by a writer at ${time}.`, kind: "live" });
  }
}
