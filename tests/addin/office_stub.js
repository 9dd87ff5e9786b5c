// Test stand-in for Office.js (served instead of Microsoft's CDN copy in the browser tests). It mimics
// the documented surface the pane uses: Office.onReady, Office.MailboxEnums.RestVersion, and
// Office.context.{mailbox.item, mailbox.convertToRestId, roamingSettings, ui.openBrowserWindow}.
// Read mode (attendee, or organizer viewing) has `itemId` and plain properties; compose mode (organizer
// editing) has no `itemId`, asynchronous getters, and `saveAsync`. The test sets `window.__officeSeed`.
(function () {
  "use strict";
  const seed = window.__officeSeed;
  const ok = (value) => ({ status: "succeeded", value: value });
  const item = seed.compose
    ? {
        subject: { getAsync: (done) => done(ok(seed.subject)) },
        recurrence: { getAsync: (done) => done(ok(seed.recurrence)) },
        seriesId: seed.seriesId || "",
        saveAsync: (done) => {
          window.__saves = (window.__saves || 0) + 1;
          done(ok(seed.ewsId));
        },
      }
    : { itemId: seed.ewsId, subject: seed.subject, seriesId: seed.seriesId || "", recurrence: seed.recurrence };
  const settings = Object.assign({}, seed.roaming || {});
  window.__roaming = settings;
  window.Office = {
    onReady: (callback) => {
      setTimeout(() => callback({ host: "Outlook", platform: "OfficeOnline" }), 0);
      return Promise.resolve({ host: "Outlook" });
    },
    MailboxEnums: { RestVersion: { v1_0: "v1.0", v2_0: "v2.0", Beta: "beta" } },
    context: {
      mailbox: {
        item: item,
        convertToRestId: (id, version) => (version === "v2.0" ? seed.restIds[id] : "wrong-version"),
      },
      roamingSettings: {
        get: (key) => settings[key],
        set: (key, value) => {
          settings[key] = value;
        },
        remove: (key) => {
          delete settings[key];
        },
        saveAsync: (done) => done && done(ok()),
      },
      ui: {
        openBrowserWindow: (url) => {
          window.__opened = url;
        },
      },
    },
  };
})();
