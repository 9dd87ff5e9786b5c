// calferry: small progressive enhancements; every page works without this file.
"use strict";

// "Select all" on the calendar page: a checkbox with data-select-all="name" ticks every box of that name.
function wireSelectAll() {
  document.querySelectorAll("input[data-select-all]").forEach(function (master) {
    master.hidden = false;
    master.addEventListener("change", function () {
      document.querySelectorAll("input[name='" + master.dataset.selectAll + "']").forEach(function (box) {
        box.checked = master.checked;
      });
    });
  });
}

// Mapping page: show a row's To-Do fields only while its kind is To-Do (they stay visible without JS).
function wireKindSelects() {
  document.querySelectorAll("select[data-todo-fields]").forEach(function (select) {
    var fields = document.getElementById(select.dataset.todoFields);
    if (!fields) { return; }
    var sync = function () { fields.hidden = select.value !== "todo"; };
    select.addEventListener("change", sync);
    sync();
  });
}

// A contact field with data-contacts-of="company-field-id": once a company is chosen, suggest its contacts.
function wireContactSuggestions() {
  document.querySelectorAll("input[data-contacts-of]").forEach(function (contact) {
    var company = document.getElementById(contact.dataset.contactsOf);
    var list = contact.list;
    if (!company || !list || company.readOnly) { return; }
    company.addEventListener("change", function () {
      fetch("/contacts?company=" + encodeURIComponent(company.value), { credentials: "same-origin" })
        .then(function (answer) { return answer.ok ? answer.json() : { contacts: [] }; })
        .then(function (found) {
          list.replaceChildren.apply(list, found.contacts.map(function (name) {
            var option = document.createElement("option");
            option.value = name;
            return option;
          }));
        });
    });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  wireSelectAll();
  wireKindSelects();
  wireContactSuggestions();
});
