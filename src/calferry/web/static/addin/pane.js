/* calferry's Outlook task pane: reads the open or selected calendar item through Office.js, shows the
 * mapping step calferry's API describes for it, and sends it on Save. No framework, no build step.
 *
 * The functions exported below take the Office namespace and a fetch function as arguments and touch
 * no page, so they run under `node --test` with office-addin-mock (tests/addin/js/). The browser
 * wiring at the end runs only in a page that has Office.js loaded.
 */
"use strict";

(function (root, factory) {
  const pane = factory();
  if (typeof module === "object" && module.exports) {
    module.exports = pane;
  } else {
    root.calferryPane = pane;
    pane.start(root);
  }
})(typeof self !== "undefined" ? self : this, function () {
  const TOKEN_KEY = "calferryToken";
  const UNREACHABLE = "calferry is not reachable. Start calferry's web page on this computer, then try again.";

  /** An error whose message the pane shows as is; `pair` asks for the pairing code again. */
  class PaneError extends Error {
    constructor(message, pair) {
      super(message);
      this.pair = Boolean(pair);
    }
  }

  /** Office's callback style as a promise: the value, or a PaneError in words. */
  function asyncValue(invoke, what) {
    return new Promise((resolve, reject) => {
      invoke((result) => {
        if (result && result.status === "failed") {
          const detail = result.error && result.error.message ? ": " + result.error.message : "";
          reject(new PaneError("Outlook could not " + what + detail));
        } else {
          resolve(result ? result.value : undefined);
        }
      });
    });
  }

  /** Compose mode (the organizer editing) has no itemId property and reads fields asynchronously. */
  function isCompose(item) {
    return typeof item.itemId !== "string" && Boolean(item.subject) && typeof item.subject.getAsync === "function";
  }

  /** The item's id for calferry: Outlook's REST (Graph) id. A new item being composed is saved first. */
  async function restId(office) {
    const mailbox = office.context.mailbox;
    const item = mailbox.item;
    if (!item) {
      throw new PaneError("Open or select a calendar item first.");
    }
    let id = typeof item.itemId === "string" ? item.itemId : null;
    if (!id && typeof item.getItemIdAsync === "function") {
      id = await asyncValue((done) => item.getItemIdAsync(done), "read the item's id").catch(() => null);
    }
    if (!id) {
      id = await asyncValue((done) => item.saveAsync(done), "save the item");
    }
    return mailbox.convertToRestId(id, office.MailboxEnums.RestVersion.v2_0);
  }

  /** What Office.js says about recurrence: true, false, or null when this Outlook cannot say (Mailbox 1.7). */
  async function recurring(item) {
    if (typeof item.seriesId === "string" && item.seriesId) {
      return true; // an occurrence of a series
    }
    const recurrence = item.recurrence;
    if (recurrence === undefined) {
      return null;
    }
    if (recurrence === null) {
      return false;
    }
    if (typeof recurrence.getAsync === "function") {
      return (await asyncValue((done) => recurrence.getAsync(done), "read the recurrence")) !== null;
    }
    return true;
  }

  /** The body of a Save: an item sent before or a recurring one keeps its kind; a To-Do needs a company. */
  function sendRequest(id, described, choice) {
    if (described.locked) {
      return { id: id, kind: described.kind, company: "", action_type: "" };
    }
    const kind = described.recurring ? "appointment" : choice.kind;
    if (kind === "todo" && !String(choice.company || "").trim()) {
      throw new PaneError("A To-Do needs a company: choose one, then Save again.");
    }
    return {
      id: id,
      kind: kind,
      company: kind === "todo" ? String(choice.company).trim() : "",
      action_type: kind === "todo" ? String(choice.actionType || "").trim() : "",
    };
  }

  /** How the pane describes an item: the lock and the notes it shows next to the fields. */
  function mappingView(described, recurringHint) {
    const isRecurring = Boolean(described.recurring || recurringHint);
    const notes = [];
    if (described.locked) {
      notes.push("Sent before as " + described.sent_as + ". Save updates it; the kind, company and action type stay as they are.");
    } else if (described.series) {
      notes.push("This is the whole series: Save sends each of its occurrences in the coming weeks as an Appointment.");
    } else if (isRecurring) {
      notes.push("A recurring item is sent as Appointments; its kind cannot be changed.");
    }
    if (described.private) {
      notes.push('This item is private: Autotask shows it as "Appointment", without its description.');
    }
    return {
      kind: isRecurring && !described.locked ? "appointment" : described.kind,
      kindLocked: Boolean(described.locked || isRecurring),
      fieldsLocked: Boolean(described.locked),
      notes: notes,
    };
  }

  /** A drop-down's options, by name: an optional prompt first, the PSA's names, and the current value
   * when the PSA did not list it (an item sent before, or an option set to a name it no longer offers),
   * so that the pane shows what will be sent rather than silently picking another. */
  function pickList(names, current, prompt) {
    const known = names || [];
    const options = prompt === undefined ? [] : [{ value: "", text: prompt }];
    options.push(...known.map((name) => ({ value: name, text: name })));
    if (current && !known.includes(current)) {
      options.push({ value: current, text: current });
    }
    return options;
  }

  /** One call to calferry's add-in API with the pairing token; errors come back as PaneErrors in words. */
  async function callApi(fetchFn, token, method, path, body) {
    let response;
    try {
      response = await fetchFn(path, {
        method: method,
        headers: { Authorization: "Bearer " + token, "Content-Type": "application/json", Accept: "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new PaneError(UNREACHABLE);
    }
    let data = {};
    try {
      data = await response.json();
    } catch (error) {
      data = {};
    }
    if (response.status === 401) {
      throw new PaneError("This add-in is not paired with calferry yet: enter the pairing code.", true);
    }
    if (!response.ok) {
      throw new PaneError(errorText(data, response.status));
    }
    return data;
  }

  function errorText(data, status) {
    const said = data && (data.error || data.message);
    if (!said) {
      return "calferry could not do that (answer " + status + ").";
    }
    return data.hint ? said + " " + data.hint : said;
  }

  function loadToken(office, storage) {
    const settings = office.context.roamingSettings;
    return (settings && settings.get(TOKEN_KEY)) || (storage && storage.getItem(TOKEN_KEY)) || "";
  }

  /** Keep the token in the add-in's roaming settings (it follows the mailbox) and this browser's storage. */
  function saveToken(office, storage, token) {
    const settings = office.context.roamingSettings;
    if (settings) {
      if (token) {
        settings.set(TOKEN_KEY, token);
      } else {
        settings.remove(TOKEN_KEY);
      }
      settings.saveAsync(() => undefined);
    }
    if (storage) {
      if (token) {
        storage.setItem(TOKEN_KEY, token);
      } else {
        storage.removeItem(TOKEN_KEY);
      }
    }
  }

  // --- browser wiring -------------------------------------------------------------------------------

  function start(win) {
    if (!win.Office || !win.document) {
      return;
    }
    win.Office.onReady(() => {
      const page = new Page(win);
      page.wire();
      page.begin().catch((error) => page.fail(error));
    });
  }

  /** The page's elements and state. Listeners are attached once (wire); begin() may run again after pairing. */
  class Page {
    constructor(win) {
      this.doc = win.document;
      this.office = win.Office;
      this.view = this.doc.body.dataset.view;
      this.storage = storageOf(win);
      this.fetch = win.fetch.bind(win);
      this.current = null; // the item on the mapping form: {id, described}
      this.preview = null; // the Get preview shown
    }

    el(id) {
      return this.doc.getElementById(id);
    }

    on(id, event, handler) {
      const node = this.el(id);
      if (node) {
        node.addEventListener(event, handler);
      }
    }

    show(id, text) {
      const node = this.el(id);
      if (text !== undefined) {
        node.textContent = text;
      }
      node.hidden = false;
    }

    hide(id) {
      this.el(id).hidden = true;
    }

    status(text) {
      this.show("status", text);
    }

    fail(error) {
      this.hide("status");
      this.hide("result");
      if (error instanceof PaneError && error.pair) {
        saveToken(this.office, this.storage, "");
        this.askPairing();
      }
      this.show("error", error instanceof PaneError ? error.message : "Something went wrong: " + error);
    }

    api(method, path, body) {
      return callApi(this.fetch, loadToken(this.office, this.storage), method, path, body);
    }

    wire() {
      this.on("pairing", "submit", (event) => {
        event.preventDefault();
        const code = this.el("pairing-code").value.trim();
        if (code) {
          saveToken(this.office, this.storage, code);
          this.hide("pairing");
          this.hide("error");
          this.begin().catch((error) => this.fail(error));
        }
      });
      this.on("mapping", "submit", (event) => {
        event.preventDefault();
        this.save().catch((error) => this.fail(error));
      });
      this.on("kind", "change", () => this.toggleTodo());
      this.on("run-get", "click", () => this.runGet().catch((error) => this.fail(error)));
      this.on("open-add", "click", (event) => {
        const ui = this.office.context.ui;
        if (ui && typeof ui.openBrowserWindow === "function") {
          event.preventDefault();
          ui.openBrowserWindow(this.el("open-add").href);
        }
      });
    }

    async begin() {
      if (!loadToken(this.office, this.storage)) {
        this.askPairing();
        return;
      }
      if (this.view === "get") {
        return this.beginGet();
      }
      if (this.view === "add") {
        this.show("add-forms");
        this.hide("status");
        return;
      }
      return this.beginSend();
    }

    askPairing() {
      this.hide("status");
      this.current = null;
      if (this.el("mapping")) {
        this.hide("mapping"); // shown again once the item is read with the new code
      }
      this.show("pairing");
    }

    async beginSend() {
      this.status("Reading the calendar item…");
      const item = this.office.context.mailbox.item;
      if (item && isCompose(item)) {
        this.status("Saving the item so that calferry can read it…");
      }
      const id = await restId(this.office);
      const hint = item ? await recurring(item) : null;
      const described = await this.api("GET", "/addin/api/item?id=" + encodeURIComponent(id));
      this.current = { id: id, described: described };
      this.fillMapping(described, mappingView(described, hint));
      this.hide("status");
    }

    option(value, text) {
      const option = this.doc.createElement("option");
      option.value = value;
      option.textContent = text;
      return option;
    }

    /** Fill a drop-down with `options` (see pickList), select `current` and lock it when asked. */
    fillSelect(id, options, current, locked) {
      const select = this.el(id);
      select.replaceChildren(...options.map((o) => this.option(o.value, o.text)));
      select.value = current || "";
      select.disabled = locked;
    }

    fillMapping(described, view) {
      this.el("subject").textContent = described.subject || "(no subject)";
      this.el("kind").value = view.kind;
      this.el("kind").disabled = view.kindLocked;
      const company = pickList(described.companies, described.company, "Choose a company");
      this.fillSelect("company", company, described.company, view.fieldsLocked);
      const actions = pickList(described.action_types, described.action_type);
      this.fillSelect("action-type", actions, described.action_type, view.fieldsLocked);
      this.el("notes").replaceChildren(
        ...view.notes.map((text) => {
          const p = this.doc.createElement("p");
          p.className = "note";
          p.textContent = text;
          return p;
        }),
      );
      this.toggleTodo();
      this.show("mapping");
    }

    toggleTodo() {
      this.el("todo-fields").hidden = this.el("kind").value !== "todo";
    }

    async save() {
      if (!this.current) {
        return;
      }
      this.hide("error");
      this.hide("result");
      const body = sendRequest(this.current.id, this.current.described, {
        kind: this.el("kind").value,
        company: this.el("company").value,
        actionType: this.el("action-type").value,
      });
      this.el("save").disabled = true;
      this.status("Sending…");
      try {
        const answer = await this.api("POST", "/addin/api/send", body);
        this.hide("status");
        this.show("result", answer.message);
      } finally {
        this.el("save").disabled = false;
      }
    }

    async beginGet() {
      this.status("Asking Autotask what is new…");
      this.preview = await this.api("GET", "/addin/api/get");
      this.hide("status");
      this.showRows(this.preview.summary, this.preview.rows);
      this.el("run-get").hidden = this.preview.rows.length === 0;
    }

    async runGet() {
      const run = this.el("run-get");
      run.disabled = true;
      try {
        const done = await this.api("POST", "/addin/api/get", { plan_id: this.preview.plan_id });
        run.hidden = true;
        this.showRows(done.summary, done.rows);
      } finally {
        run.disabled = false;
      }
    }

    showRows(summary, rows) {
      this.show("summary", summary);
      this.el("rows").replaceChildren(
        ...rows.map((row) => {
          const li = this.doc.createElement("li");
          li.textContent = row.subject + " (" + (row.outcome || row.action) + ")";
          return li;
        }),
      );
    }
  }

  function storageOf(win) {
    try {
      return win.localStorage;
    } catch (error) {
      return null; // storage blocked in this frame: the roaming settings still keep the token
    }
  }

  return { PaneError, asyncValue, isCompose, restId, recurring, sendRequest, mappingView, pickList, callApi, loadToken, saveToken, start };
});
