// The key tree: the children of one prefix at a time, a page at a time (the API's
// /children reads one or two entries per child, whatever lies beneath), so it stays quick on
// millions of keys. A breadcrumb leads back up; a child with keys beneath opens as the new
// prefix, a child that is an entry opens in the entry panel.

import { el, clear, replace } from "./dom.js";
import { partText, keyText, parseKey } from "./values.js";

const PAGE = 100;

export class Tree {
  /** `app` gives api, db, and openEntry(key) / watchPrefix(prefix) / report(error). */
  constructor(app, root) {
    this.app = app;
    this.prefix = [];
    this.crumbs = el("nav", { class: "crumbs", attrs: { "aria-label": "prefix" } });
    this.count = el("span", { class: "count", id: "prefix-count" });
    this.list = el("ul", { class: "children", id: "children" });
    this.more = el("button", { text: "Load more", id: "load-more", on: { click: () => this.load() } });
    this.shownText = el("span", { class: "count", id: "children-shown" });
    this.jump = el("input", {
      id: "prefix-input",
      attrs: { placeholder: '["users"]', "aria-label": "go to prefix", spellcheck: "false" },
    });
    const go = el("form", { class: "jump", on: { submit: (e) => this.go(e) } }, [
      this.jump,
      el("button", { text: "Go", attrs: { type: "submit" } }),
    ]);
    const tools = el("div", { class: "tools" }, [
      el("button", { text: "Count", id: "count-button", on: { click: () => this.countKeys() } }),
      el("button", {
        text: "Watch prefix",
        id: "watch-prefix",
        on: { click: () => this.app.watchPrefix(this.prefix) },
      }),
      this.count,
    ]);
    replace(
      root,
      el("h2", { text: "Keys" }),
      go,
      this.crumbs,
      tools,
      this.list,
      el("div", { class: "tools" }, [this.more, this.shownText]),
    );
  }

  /** Shows the children of `prefix`. */
  open(prefix) {
    this.prefix = prefix;
    this.cursor = undefined;
    this.shown = 0;
    clear(this.list);
    this.count.textContent = "";
    this.renderCrumbs();
    return this.load();
  }

  renderCrumbs() {
    const crumbs = [el("button", { text: "[ ]", class: "crumb", on: { click: () => this.open([]) } })];
    this.prefix.forEach((part, i) => {
      const up = this.prefix.slice(0, i + 1);
      crumbs.push(el("span", { text: "›", class: "sep" }));
      crumbs.push(el("button", { text: partText(part), class: "crumb", on: { click: () => this.open(up) } }));
    });
    replace(this.crumbs, ...crumbs);
  }

  async load() {
    const db = this.app.db;
    this.more.disabled = true;
    try {
      const page = await this.app.api.children(db, this.prefix, this.cursor, PAGE);
      if (db !== this.app.db) return;
      for (const child of page.children) this.list.append(this.item(child));
      this.shown += page.children.length;
      this.cursor = page.cursor ?? undefined;
      this.more.hidden = !page.cursor;
      if (this.shown === 0) this.list.append(el("li", { class: "empty", text: "no keys under this prefix" }));
      this.list.dataset.shown = String(this.shown);
      this.shownText.textContent = `${this.shown.toLocaleString("en-US")} shown${page.cursor ? ", more below" : ""}`;
    } catch (error) {
      this.app.report(error);
    } finally {
      this.more.disabled = false;
    }
  }

  item(child) {
    const key = [...this.prefix, child.part];
    const label = partText(child.part);
    const row = el("li", { class: "child" });
    if (child.children) {
      row.append(
        el("button", {
          class: "branch",
          text: `▸ ${label}`,
          title: `${keyText(key)}: open`,
          on: { click: () => this.open(key) },
        }),
      );
    }
    if (child.entry) {
      row.append(
        el("button", {
          class: "leaf",
          text: child.children ? "• value" : `• ${label}`,
          title: `${keyText(key)}: show the value`,
          attrs: { "data-key": keyText(key) },
          on: { click: () => this.app.openEntry(key) },
        }),
      );
    }
    return row;
  }

  async countKeys() {
    this.count.textContent = "counting…";
    try {
      const { count, complete } = await this.app.api.count(this.app.db, this.prefix);
      this.count.textContent = `${count.toLocaleString("en-US")}${complete ? "" : "+"} keys`;
    } catch (error) {
      this.count.textContent = "";
      this.app.report(error);
    }
  }

  go(event) {
    event.preventDefault();
    try {
      const key = parseKey(this.jump.value || "[]");
      this.open(key);
      // A key typed in is shown in the entry panel too (or offered for creation).
      if (key.length > 0) this.app.openEntry(key);
    } catch (error) {
      this.app.report(error);
    }
  }
}
