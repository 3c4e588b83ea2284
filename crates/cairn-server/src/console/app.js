// The console: sign in with an access token, pick a database (the open one is always named
// in the header), then the key tree, the entry panel and the side panels. The token lives in
// this tab's sessionStorage only, and is sent in the Authorization header.

import { Api, ApiError } from "./api.js";
import { el, replace } from "./dom.js";
import { Tree } from "./tree.js";
import { EntryPanel } from "./entry.js";
import { QueuePanel, StatsPanel, WatchLog } from "./panels.js";

const TOKEN = "cairn-console-token";
const $ = (id) => document.getElementById(id);

class Console {
  constructor() {
    this.status = $("status");
    $("sign-in").addEventListener("submit", (e) => this.signIn(e));
    $("sign-out").addEventListener("click", () => this.signOut());
    $("db-picker").addEventListener("change", (e) => this.choose(e.target.value));
    const saved = sessionStorage.getItem(TOKEN);
    if (saved) this.start(saved);
  }

  async signIn(event) {
    event.preventDefault();
    const token = $("token").value.trim();
    if (token) await this.start(token);
  }

  async start(token) {
    const api = new Api(token);
    let list;
    try {
      list = await api.databases();
    } catch (error) {
      sessionStorage.removeItem(TOKEN);
      const why = error instanceof ApiError && error.status === 401 ? "This server does not know that token." : error.message;
      replace($("sign-in-error"), why);
      return;
    }
    sessionStorage.setItem(TOKEN, token);
    $("token").value = "";
    replace($("sign-in-error"));
    this.api = api;
    this.databases = list.databases;
    $("signed-out").hidden = true;
    $("signed-in").hidden = false;
    $("session").hidden = false;
    const picker = replace(
      $("db-picker"),
      ...list.databases.map((d) => el("option", { text: d.name, attrs: { value: d.name } })),
    );
    const first = list.databases.find((d) => d.name === list.default) ?? list.databases[0];
    if (!first) {
      this.report(new Error("This token opens no database."));
      return;
    }
    picker.value = first.name;
    this.tree = new Tree(this, $("tree"));
    this.entry = new EntryPanel(this, $("entry"));
    this.queue = new QueuePanel(this, $("queue"));
    this.stats = new StatsPanel(this, $("stats-panel"));
    this.watchLog = new WatchLog(this, $("watch"));
    await this.choose(first.name);
  }

  async choose(name) {
    const database = this.databases.find((d) => d.name === name);
    this.db = name;
    this.access = database.access;
    $("db-name").textContent = name;
    $("db-access").textContent = database.access;
    $("db-access").className = `badge ${database.access}`;
    document.body.classList.toggle("read-only", database.access !== "read-write");
    this.watchLog.close();
    this.entry.clearState();
    this.entry.renderEmpty();
    replace(this.status);
    this.status.hidden = true;
    await Promise.all([this.tree.open([]), this.queue.refresh(), this.stats.refresh()]);
  }

  openEntry(key) {
    return this.entry.open(key);
  }

  watchPrefix(prefix) {
    this.watchLog.start(prefix);
  }

  report(error) {
    const text = error instanceof ApiError ? `${error.status} ${error.code}: ${error.message}` : String(error.message ?? error);
    replace(this.status, text);
    this.status.hidden = false;
  }

  signOut() {
    sessionStorage.removeItem(TOKEN);
    location.reload();
  }
}

new Console();
