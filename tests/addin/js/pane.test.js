// The task pane script's logic (item -> request, modes, errors) against office-addin-mock's Office.
"use strict";

const { test } = require("node:test");
const assert = require("node:assert/strict");
const { OfficeMockObject } = require("office-addin-mock");
const pane = require("../../../src/calferry/web/static/addin/pane.js");

const succeeded = (value) => ({ status: "succeeded", value });

/** An Office mock for Outlook with `item` as the open appointment; `nulls` are set after (seeds take none). */
function office(item, nulls = {}) {
  const mock = new OfficeMockObject(
    {
      context: {
        mailbox: {
          item,
          convertToRestId(id, version) {
            this.converted = [id, version];
            return "REST-" + id;
          },
        },
        roamingSettings: {
          values: {},
          get(key) {
            return this.values[key];
          },
          set(key, value) {
            this.values[key] = value;
          },
          remove(key) {
            delete this.values[key];
          },
          saveAsync(done) {
            this.saved = true;
            done(succeeded());
          },
        },
      },
      MailboxEnums: { RestVersion: { v2_0: "v2.0" } },
    },
    "outlook",
  );
  Object.assign(mock.context.mailbox.item, nulls);
  return mock;
}

function attendeeItem() {
  return { itemId: "EWS-read-1", subject: "Visit Contoso", seriesId: "" };
}

function organizerComposeItem(extra = {}) {
  return {
    subject: { getAsync: (done) => done(succeeded("New visit")) },
    saveAsync(done) {
      this.saves = (this.saves || 0) + 1;
      done(succeeded("EWS-saved-9"));
    },
    ...extra,
  };
}

test("read mode (attendee or organizer): the item's id converted to the REST id", async () => {
  const mock = office(attendeeItem(), { recurrence: null });
  assert.equal(pane.isCompose(mock.context.mailbox.item), false);
  assert.equal(await pane.restId(mock), "REST-EWS-read-1");
  assert.deepEqual(mock.context.mailbox.converted, ["EWS-read-1", "v2.0"]);
});

test("compose mode: a new item is saved first, and the saved item's id is sent", async () => {
  const mock = office(organizerComposeItem());
  const item = mock.context.mailbox.item;
  assert.equal(pane.isCompose(item), true);
  assert.equal(await pane.restId(mock), "REST-EWS-saved-9");
  assert.equal(item.saves, 1);
});

test("compose mode with Mailbox 1.8: an existing item's id without saving it", async () => {
  const mock = office(organizerComposeItem({ getItemIdAsync: (done) => done(succeeded("EWS-existing-3")) }));
  assert.equal(await pane.restId(mock), "REST-EWS-existing-3");
  assert.equal(mock.context.mailbox.item.saves, undefined);
});

test("compose mode: a failed save is an error in words, and nothing is converted", async () => {
  const failing = organizerComposeItem({
    saveAsync: (done) => done({ status: "failed", error: { message: "The item is being edited elsewhere." } }),
  });
  const mock = office(failing);
  await assert.rejects(pane.restId(mock), (error) => {
    assert.ok(error instanceof pane.PaneError);
    assert.equal(error.message, "Outlook could not save the item: The item is being edited elsewhere.");
    return true;
  });
  assert.equal(mock.context.mailbox.converted, undefined);
});

test("recurrence: occurrence, series in compose, single item, and an Outlook that cannot say", async () => {
  assert.equal(await pane.recurring(office({ itemId: "a", subject: "s", seriesId: "SERIES-1" }).context.mailbox.item), true);
  const series = { getAsync: (done) => done(succeeded({ recurrenceType: "weekly" })) };
  assert.equal(await pane.recurring(office(organizerComposeItem({ recurrence: series })).context.mailbox.item), true);
  const single = { getAsync: (done) => done(succeeded(null)) };
  assert.equal(await pane.recurring(office(organizerComposeItem({ recurrence: single })).context.mailbox.item), false);
  assert.equal(await pane.recurring(office(attendeeItem(), { recurrence: null }).context.mailbox.item), false);
  assert.equal(await pane.recurring(office(attendeeItem()).context.mailbox.item), null); // before Mailbox 1.7
});

const fresh = { kind: "appointment", locked: false, recurring: false, private: false, sent_as: null };

test("request: an Appointment carries no company; a To-Do carries its company and action type", () => {
  assert.deepEqual(pane.sendRequest("R1", fresh, { kind: "appointment", company: "Contoso Dental" }), {
    id: "R1", kind: "appointment", company: "", action_type: "",
  });
  assert.deepEqual(
    pane.sendRequest("R1", fresh, { kind: "todo", company: " Contoso Dental ", actionType: "Phone call" }),
    { id: "R1", kind: "todo", company: "Contoso Dental", action_type: "Phone call" },
  );
});

test("request: a To-Do without a company is refused before anything is sent", () => {
  assert.throws(() => pane.sendRequest("R1", fresh, { kind: "todo", company: "  " }), {
    name: "Error",
    message: "A To-Do needs a company: choose one, then Save again.",
  });
});

test("request: a recurring item goes as an Appointment, an item sent before keeps its kind", () => {
  const recurring = { ...fresh, recurring: true };
  assert.equal(pane.sendRequest("R1", recurring, { kind: "todo", company: "" }).kind, "appointment");
  const sent = { ...fresh, kind: "todo", locked: true, sent_as: "To-Do #7" };
  assert.deepEqual(pane.sendRequest("R1", sent, { kind: "appointment", company: "" }), {
    id: "R1", kind: "todo", company: "", action_type: "",
  });
});

test("view: locks and notes for sent-before, recurring (also only known to Office.js) and private items", () => {
  const sent = pane.mappingView({ ...fresh, kind: "todo", locked: true, sent_as: "To-Do #7" }, null);
  assert.deepEqual([sent.kind, sent.kindLocked, sent.fieldsLocked], ["todo", true, true]);
  assert.match(sent.notes[0], /^Sent before as To-Do #7\./);
  const hinted = pane.mappingView(fresh, true);
  assert.deepEqual([hinted.kind, hinted.kindLocked, hinted.fieldsLocked], ["appointment", true, false]);
  const series = pane.mappingView({ ...fresh, recurring: true, series: true }, true);
  assert.deepEqual([series.kind, series.kindLocked], ["appointment", true]);
  assert.match(series.notes[0], /^This is the whole series/);
  const secret = pane.mappingView({ ...fresh, private: true }, false);
  assert.deepEqual([secret.kindLocked, secret.notes.length], [false, 1]);
  assert.match(secret.notes[0], /"Appointment"/);
});

test("drop-downs by name: the PSA's action types, and a company or action type it no longer lists kept", () => {
  const types = ["Email", "General", "Meeting", "Phone Call"];
  assert.deepEqual(pane.pickList(types, "General").map((o) => o.value), types);
  assert.deepEqual(pane.pickList(types, "General")[1], { value: "General", text: "General" });
  assert.deepEqual(pane.pickList(types, "Site Visit").map((o) => o.text), [...types, "Site Visit"]);
  const companies = pane.pickList(["Contoso Dental"], "", "Choose a company");
  assert.deepEqual(companies, [
    { value: "", text: "Choose a company" },
    { value: "Contoso Dental", text: "Contoso Dental" },
  ]);
  assert.deepEqual(pane.pickList(undefined, "Old Co", "Choose a company").map((o) => o.value), ["", "Old Co"]);
  assert.deepEqual(pane.pickList([], ""), []);
});

function answer(status, body) {
  return { status, ok: status >= 200 && status < 300, json: async () => body };
}

test("API: the pairing token as bearer, JSON in and out", async () => {
  let seen;
  const fetchFn = async (path, init) => {
    seen = { path, init };
    return answer(200, { ok: true, message: "Sent as Appointment #12" });
  };
  const done = await pane.callApi(fetchFn, "tok", "POST", "/addin/api/send", { id: "R1" });
  assert.equal(done.message, "Sent as Appointment #12");
  assert.equal(seen.init.headers.Authorization, "Bearer tok");
  assert.deepEqual(JSON.parse(seen.init.body), { id: "R1" });
});

test("API errors in words: not paired, refused with a reason, unreachable", async () => {
  await assert.rejects(pane.callApi(async () => answer(401, { error: "x" }), "", "GET", "/addin/api/item"), (e) => e.pair);
  await assert.rejects(
    pane.callApi(async () => answer(409, { ok: false, message: "The PSA refused it." }), "t", "POST", "/x", {}),
    { message: "The PSA refused it." },
  );
  await assert.rejects(
    pane.callApi(async () => answer(400, { error: "No such item.", hint: "Open it again." }), "t", "GET", "/x"),
    { message: "No such item. Open it again." },
  );
  await assert.rejects(
    pane.callApi(async () => { throw new TypeError("Failed to fetch"); }, "t", "GET", "/x"),
    { message: /^calferry is not reachable\./ },
  );
});

test("token: kept in Office's roaming settings and this browser's storage, and forgotten", () => {
  const mock = office(attendeeItem());
  const stored = new Map();
  const storage = { getItem: (k) => stored.get(k) ?? null, setItem: (k, v) => stored.set(k, v), removeItem: (k) => stored.delete(k) };
  assert.equal(pane.loadToken(mock, storage), "");
  pane.saveToken(mock, storage, "secret-code");
  assert.equal(mock.context.roamingSettings.values.calferryToken, "secret-code");
  assert.equal(mock.context.roamingSettings.saved, true);
  assert.equal(pane.loadToken(mock, null), "secret-code");
  pane.saveToken(mock, storage, "");
  assert.equal(pane.loadToken(mock, storage), "");
});
