// The side panels: the queue's counts, the database's own figures (the ones /metrics exports),
// and the log of a prefix watch.

import { el, replace, size } from "./dom.js";
import { jsLiteral, keyText } from "./values.js";

/** Rows of a definition list. */
function rows(pairs) {
  return el(
    "dl",
    {},
    pairs.flatMap(([name, value, id]) => [el("dt", { text: name }), el("dd", { text: value, id })]),
  );
}

const ms = (x) => (x === null || x === undefined ? "–" : `${x.toFixed(x < 10 ? 2 : 0)} ms`);
const n = (x) => (x === null || x === undefined ? "–" : Number(x).toLocaleString("en-US"));

export class QueuePanel {
  constructor(app, root) {
    this.app = app;
    this.body = el("div", { id: "queue-counts" });
    replace(
      root,
      el("h2", {}, ["Queue ", el("button", { text: "Refresh", class: "small", on: { click: () => this.refresh() } })]),
      this.body,
    );
  }

  async refresh() {
    try {
      const q = await this.app.api.queue(this.app.db);
      replace(
        this.body,
        rows([
          ["ready", n(q.ready), "queue-ready"],
          ["delayed", n(q.delayed), "queue-delayed"],
          ["in flight", n(q.inFlight), "queue-in-flight"],
          ["dead-lettered", n(q.deadLettered), "queue-dead-lettered"],
        ]),
      );
    } catch (error) {
      this.app.report(error);
    }
  }
}

export class StatsPanel {
  constructor(app, root) {
    this.app = app;
    this.body = el("div", { id: "stats" });
    replace(
      root,
      el("h2", {}, ["Stats ", el("button", { text: "Refresh", class: "small", on: { click: () => this.refresh() } })]),
      this.body,
    );
  }

  async refresh() {
    try {
      const s = await this.app.api.stats(this.app.db);
      const pairs = [
        ["keys (estimate)", n(s.approximateKeys), "stats-keys"],
        ["on disk", size(s.diskBytes), "stats-disk"],
        ["commits", n(s.commits.committed), "stats-commits"],
        ["check failures", n(s.commits.check_failed)],
        ["rejected", n(s.commits.rejected)],
        ["commit p50 / p99", `${ms(s.commitLatency.p50Ms)} / ${ms(s.commitLatency.p99Ms)}`],
        ["sync p50 / p99", `${ms(s.syncLatency.p50Ms)} / ${ms(s.syncLatency.p99Ms)}`],
        ["writes in flight", n(s.commitsInFlight)],
        ["expiry backlog", n(s.expiryBacklog)],
        ["expired keys swept", n(s.expiredKeysSwept)],
      ];
      if (s.poisoned) pairs.push(["refuses writes", s.poisoned, "stats-poisoned"]);
      const children = [rows(pairs)];
      if (!s.enabled) children.push(el("p", { class: "hint", text: "Counting is off on this server (--no-metrics)." }));
      replace(this.body, ...children);
    } catch (error) {
      this.app.report(error);
    }
  }
}

/** The log of the prefix watch running, if any. */
export class WatchLog {
  constructor(app, root) {
    this.app = app;
    this.title = el("span", { text: "Watch" });
    this.stop = el("button", { text: "Stop", class: "small", on: { click: () => this.close() } });
    this.stop.hidden = true;
    this.list = el("ol", { id: "watch-log", class: "log" });
    replace(root, el("h2", {}, [this.title, " ", this.stop]), this.list);
  }

  start(prefix) {
    this.close();
    const controller = new AbortController();
    this.controller = controller;
    this.title.textContent = `Watching ${keyText(prefix)}`;
    this.stop.hidden = false;
    replace(this.list);
    this.app.api
      .watch(this.app.db, { prefix }, (name, data) => this.event(name, data), controller.signal)
      .catch((error) => {
        if (error.name !== "AbortError") this.app.report(error);
      });
  }

  event(name, data) {
    if (name === "ready") {
      this.list.prepend(el("li", { class: "ready", text: "watching: new commits appear here" }));
      return;
    }
    if (name !== "changes") return;
    for (const change of data.changes) {
      const what = change.deleted ? "deleted" : jsLiteral(change.value).replace(/\s+/g, " ").slice(0, 200);
      this.list.prepend(
        el("li", {}, [el("code", { text: keyText(change.key) }), " ", el("span", { text: change.deleted ? what : `= ${what}` })]),
      );
    }
    while (this.list.children.length > 200) this.list.lastChild.remove();
  }

  close() {
    if (this.controller) this.controller.abort();
    this.controller = null;
    this.title.textContent = "Watch";
    this.stop.hidden = true;
  }
}
