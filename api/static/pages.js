/* Caledee booking pages: the month calendar and times (slots from the public JSON endpoints), the
   booking form with lead capture, and the manage page's cancel and reschedule. No framework, no build.
   "Today" is the server's (data-now): the browser's clock may be wrong. */
"use strict";

(function () {
  var EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

  function byId(id) { return document.getElementById(id); }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  /* YYYY-MM-DD of an instant in a time zone. */
  function dayIn(instant, zone) {
    var parts = {};
    new Intl.DateTimeFormat("en-US", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" })
      .formatToParts(instant).forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "-" + parts.month + "-" + parts.day;
  }

  function timeText(iso, zone) {
    return new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit", timeZone: zone })
      .format(new Date(iso));
  }

  function dayText(day, style) {
    var d = new Date(day + "T12:00:00Z");
    return new Intl.DateTimeFormat(undefined, Object.assign({ timeZone: "UTC" }, style)).format(d);
  }

  function randomKey() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function say(message, ok) {
    var status = byId("status");
    status.className = "status" + (ok ? " ok" : "");
    status.textContent = message || "";
  }

  /* A request's failure as a sentence for people (429: the wait; network: the connection). */
  function politeFailure(response, body) {
    if (!response) return "We could not reach the server. Check your connection and try again.";
    if (response.status === 429) {
      var wait = parseInt(response.headers.get("Retry-After") || "60", 10);
      return "Lots of requests from your network just now. Please wait " + wait +
        " second" + (wait === 1 ? "" : "s") + " and try again.";
    }
    if (response.status === 404) return "This page is no longer available.";
    return (body && body.message) || "Something went wrong. Please try again.";
  }

  function send(method, url, payload, headers, keepalive) {
    var options = { method: method, headers: Object.assign({ Accept: "application/json" }, headers || {}),
      keepalive: !!keepalive };
    if (payload !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(payload);
    }
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (body) {
        return { response: response, body: body };
      });
    }, function () { return { response: null, body: null }; });
  }

  /* The month calendar and the times of the chosen day.
     options: slotsUrl, headers, duration(), onPick(slot, zone), now (ISO). */
  function Picker(options) {
    var root = byId("picker");
    var zoneSelect = byId("zone");
    var state = { year: 0, month: 0, byDay: {}, day: null, loads: 0, first: true };
    var detected = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (detected && options.preferBrowserZone) {
      if (!Array.prototype.some.call(zoneSelect.options, function (o) { return o.value === detected; })) {
        zoneSelect.appendChild(el("option", {}, detected));
      }
      zoneSelect.value = detected;
    }

    function zone() { return zoneSelect.value; }
    function today() { return dayIn(new Date(options.now), zone()); }
    function monthKey() { return state.year + "-" + pad(state.month); }

    function setMonth(year, month) {
      if (month < 1) { year -= 1; month = 12; }
      if (month > 12) { year += 1; month = 1; }
      state.year = year; state.month = month;
    }

    function load(keepDay) {
      var ticket = ++state.loads;
      var next = state.month === 12 ? (state.year + 1) + "-01" : state.year + "-" + pad(state.month + 1);
      var query = "?from=" + monthKey() + "-01T00:00:00&to=" + next + "-01T00:00:00" +
        "&tz=" + encodeURIComponent(zone()) + "&duration=" + options.duration();
      root.setAttribute("data-state", "loading");
      render();
      return send("GET", options.slotsUrl + query, undefined, options.headers).then(function (got) {
        if (ticket !== state.loads) return;  // a newer month or zone was asked for meanwhile
        state.byDay = {};
        if (!got.response || !got.response.ok) {
          say(politeFailure(got.response, got.body));
        } else {
          got.body.data.forEach(function (slot) {
            var day = slot.start.slice(0, 10);
            (state.byDay[day] = state.byDay[day] || []).push(slot);
          });
          // The first month with nothing free left (late in a month): show the next one.
          if (state.first && !Object.keys(state.byDay).length) {
            state.first = false;
            setMonth(state.year, state.month + 1);
            return load(false);
          }
        }
        state.first = false;
        if (!keepDay || !state.byDay[state.day]) state.day = null;
        root.setAttribute("data-month", monthKey());
        root.setAttribute("data-state", "ready");
        render();
        showTimes(false);
      });
    }

    function render() {
      var days = byId("days");
      var first = new Date(Date.UTC(state.year, state.month - 1, 1));
      var count = new Date(Date.UTC(state.year, state.month, 0)).getUTCDate();
      var now = today();
      byId("month-title").textContent = dayText(monthKey() + "-01", { month: "long", year: "numeric" });
      byId("prev-month").disabled = monthKey() <= now.slice(0, 7);
      days.textContent = "";
      for (var blank = (first.getUTCDay() + 6) % 7; blank > 0; blank--) days.appendChild(el("span"));
      for (var n = 1; n <= count; n++) {
        var day = monthKey() + "-" + pad(n);
        var slots = state.byDay[day] || [];
        var label = dayText(day, { weekday: "long", month: "long", day: "numeric" }) + ": " +
          (slots.length ? slots.length + " free time" + (slots.length === 1 ? "" : "s") : "nothing free");
        var button = el("button", { type: "button", class: "day", "data-day": day, "aria-label": label }, String(n));
        if (day === now) button.classList.add("today");
        if (slots.length) {
          button.classList.add("open");
          button.setAttribute("aria-pressed", day === state.day ? "true" : "false");
        } else {
          button.disabled = true;
        }
        days.appendChild(button);
      }
    }

    function showTimes(focus) {
      var box = byId("times");
      var list = byId("time-list");
      list.textContent = "";
      if (!state.day) { box.hidden = true; return; }
      byId("times-title").textContent = dayText(state.day, { weekday: "long", month: "long", day: "numeric" });
      state.byDay[state.day].forEach(function (slot) {
        var item = el("li");
        item.appendChild(el("button", { type: "button", class: "time", "data-start": slot.start },
          timeText(slot.start, zone())));
        list.appendChild(item);
      });
      box.hidden = false;
      if (focus) byId("times-title").focus();
    }

    byId("days").addEventListener("click", function (event) {
      var button = event.target.closest("button.day");
      if (!button || button.disabled) return;
      state.day = button.getAttribute("data-day");
      render();
      showTimes(true);
    });
    byId("time-list").addEventListener("click", function (event) {
      var button = event.target.closest("button.time");
      if (!button) return;
      var start = button.getAttribute("data-start");
      var slot = state.byDay[state.day].filter(function (s) { return s.start === start; })[0];
      Array.prototype.forEach.call(byId("time-list").querySelectorAll("button"), function (b) {
        b.setAttribute("aria-pressed", b === button ? "true" : "false");
      });
      options.onPick(slot, zone());
    });
    byId("prev-month").addEventListener("click", function () { setMonth(state.year, state.month - 1); load(false); });
    byId("next-month").addEventListener("click", function () { setMonth(state.year, state.month + 1); load(false); });
    zoneSelect.addEventListener("change", function () { load(false); });

    var start = today();
    setMonth(+start.slice(0, 4), +start.slice(5, 7));
    load(false);
    return { reload: function () { return load(true).then(function () { showTimes(true); }); }, zone: zone };
  }

  /* --- the booking page -------------------------------------------------------------------------- */

  function bookingPage(page) {
    var api = page.getAttribute("data-api");
    var form = byId("details");
    var chosen = null;
    var idempotencyKey = randomKey();
    var leadsSent = {};
    var sentFields = [];  // the question fields in the order their answers were sent

    function duration() {
      var picked = document.querySelector("input[name=duration]:checked") ||
        document.querySelector("input[name=duration]");
      return picked.value;
    }

    var picker = Picker({
      slotsUrl: api + "/slots", now: page.getAttribute("data-now"), duration: duration,
      preferBrowserZone: true,
      onPick: function (slot, zone) {
        chosen = { slot: slot, zone: zone };
        idempotencyKey = randomKey();
        byId("chosen-time").textContent = dayText(slot.start.slice(0, 10), { weekday: "long", month: "long", day: "numeric", year: "numeric" }) +
          ", " + timeText(slot.start, zone) + " – " + timeText(slot.end, zone) + " (" + zone + ")";
        form.hidden = false;
        say("");
        byId("name").focus();
      }
    });
    Array.prototype.forEach.call(document.querySelectorAll("input[name=duration]"), function (radio) {
      radio.addEventListener("change", function () { form.hidden = true; picker.reload(); });
    });
    byId("change-time").addEventListener("click", function () { form.hidden = true; byId("times-title").focus(); });

    function questionValue(field) {
      var type = field.getAttribute("data-type");
      if (type === "checkbox") return field.querySelector("input").checked;
      if (type === "multiselect") {
        return Array.prototype.filter.call(field.querySelectorAll("input"), function (i) { return i.checked; })
          .map(function (i) { return i.value; });
      }
      return field.querySelector("input, select, textarea").value.trim();
    }

    function answers(forLead) {
      sentFields = [];
      var given = [];
      Array.prototype.forEach.call(form.querySelectorAll(".question"), function (field) {
        var value = questionValue(field);
        var empty = value === "" || (Array.isArray(value) && !value.length) || (forLead && value === false);
        if (empty) return;
        sentFields.push(field);
        given.push({ questionId: field.getAttribute("data-question"), value: value });
      });
      return given;
    }

    function showError(input, errorId, message) {
      var error = byId(errorId);
      error.textContent = message;
      error.hidden = false;
      if (input) input.setAttribute("aria-invalid", "true");
    }

    function clearErrors() {
      Array.prototype.forEach.call(form.querySelectorAll(".error"), function (e) { e.hidden = true; e.textContent = ""; });
      Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (e) { e.removeAttribute("aria-invalid"); });
    }

    function questionError(field, message) {
      var input = field.querySelector("input, select, textarea");
      showError(input, input.id ? input.id + "-error" : field.querySelector(".error").id, message);
      return input;
    }

    function checkLocally() {
      var invalid = [];
      var name = byId("name"), email = byId("email");
      if (!name.value.trim()) { showError(name, "name-error", "Please enter your name."); invalid.push(name); }
      if (!email.value.trim()) { showError(email, "email-error", "Please enter your email address."); invalid.push(email); }
      else if (!EMAIL.test(email.value.trim())) {
        showError(email, "email-error", "Please enter an email address such as name@example.com."); invalid.push(email);
      }
      Array.prototype.forEach.call(form.querySelectorAll(".question[data-required]"), function (field) {
        var value = questionValue(field);
        if (value === "" || value === false || (Array.isArray(value) && !value.length)) {
          invalid.push(questionError(field, "Please answer “" + field.getAttribute("data-label") + "”."));
        }
      });
      return invalid;
    }

    /* The server's details (paths in JSON names) shown at their fields; the rest said in the status. */
    function showServerErrors(body) {
      var general = [];
      var first = null;
      (body.details || []).forEach(function (detail) {
        var path = detail.path || [];
        var input = null;
        if (path[0] === "invitee" && path[1] === "name") { input = byId("name"); showError(input, "name-error", detail.message); }
        else if (path[0] === "invitee" && path[1] === "email") { input = byId("email"); showError(input, "email-error", detail.message); }
        else if (path[0] === "notes") { input = byId("notes"); showError(input, "notes-error", detail.message); }
        else if (path[0] === "answers" && path.length > 1 && sentFields[+path[1]]) {
          input = questionError(sentFields[+path[1]], detail.message);
        } else if (path[0] === "answers") {
          var field = Array.prototype.filter.call(form.querySelectorAll(".question"), function (f) {
            return detail.message.indexOf("(" + f.getAttribute("data-question") + ")") >= 0;
          })[0];
          if (field) input = questionError(field, "Please answer “" + field.getAttribute("data-label") + "”.");
          else general.push(detail.message);
        } else {
          general.push(detail.message);
        }
        first = first || input;
      });
      say(general.length ? general.join(" ") : "Please correct the fields marked below.");
      if (first) first.focus();
    }

    function captureLead() {
      var name = byId("name").value.trim(), email = byId("email").value.trim();
      if (!name || !EMAIL.test(email) || leadsSent[email.toLowerCase()]) return;
      leadsSent[email.toLowerCase()] = true;
      // keepalive: sent even when the visitor leaves the page right after the field.
      send("POST", api + "/leads", { name: name, email: email, timezone: picker.zone(), answers: answers(true) },
        {}, true);
    }
    byId("email").addEventListener("change", captureLead);
    byId("email").addEventListener("blur", captureLead);

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors();
      say("");
      var invalid = checkLocally();
      if (invalid.length) { say("Please correct the fields marked below."); invalid[0].focus(); return; }
      var notes = byId("notes").value.trim();
      var payload = {
        start: chosen.slot.start,
        durationMin: +duration(),
        invitee: { name: byId("name").value.trim(), email: byId("email").value.trim(), timezone: chosen.zone },
        answers: answers(false)
      };
      if (notes) payload.notes = notes;
      var button = byId("book");
      button.disabled = true;
      say("Booking…", true);
      send("POST", api + "/bookings", payload, { "Idempotency-Key": idempotencyKey }).then(function (got) {
        button.disabled = false;
        var response = got.response;
        if (response && response.status === 201) {
          say("Booked. Opening your confirmation…", true);
          window.location.assign(response.headers.get("Caledee-Manage-Url") + "&new=1");
          return;
        }
        if (response && response.status === 409) {
          form.hidden = true;
          picker.reload().then(function () {
            say("Sorry, that time was just taken by someone else. Here are the times still free: please pick another.");
          });
          return;
        }
        if (response && response.status === 400 && got.body) { showServerErrors(got.body); return; }
        say(politeFailure(response, got.body));
      });
    });
  }

  /* --- the manage page --------------------------------------------------------------------------- */

  function managePage(page) {
    var api = page.getAttribute("data-api");
    var headers = { "X-Booking-Token": page.getAttribute("data-token") };
    var target = null;

    function done(message) {
      say(message, true);
      var url = new URL(window.location.href);
      url.searchParams.delete("new");
      window.location.replace(url.toString());
    }

    var cancelForm = byId("cancel-form");
    if (!cancelForm) return;  // an ended booking: nothing to change
    cancelForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var reason = byId("cancel-reason").value.trim();
      send("POST", api + "/cancel", reason ? { reason: reason } : {}, headers).then(function (got) {
        if (got.response && got.response.ok) done("Your booking is canceled.");
        else say(politeFailure(got.response, got.body));
      });
    });

    var picker = null;
    var toggle = byId("show-reschedule");
    toggle.addEventListener("click", function () {
      var box = byId("reschedule-box");
      box.hidden = !box.hidden;
      toggle.setAttribute("aria-expanded", String(!box.hidden));
      if (!picker && !box.hidden) {
        picker = Picker({
          slotsUrl: api + "/slots", now: page.getAttribute("data-now"), headers: headers,
          duration: function () { return page.getAttribute("data-duration"); },
          onPick: function (slot, zone) {
            target = slot;
            byId("new-time").textContent = dayText(slot.start.slice(0, 10), { weekday: "long", month: "long", day: "numeric" }) +
              ", " + timeText(slot.start, zone) + " (" + zone + ")";
            byId("confirm-move").hidden = false;
            byId("move").focus();
          }
        });
      }
    });
    byId("move").addEventListener("click", function () {
      if (!target) return;
      send("POST", api + "/reschedule", { start: target.start }, headers).then(function (got) {
        if (got.response && got.response.ok) { done("Your booking is moved."); return; }
        if (got.response && got.response.status === 409) {
          byId("confirm-move").hidden = true;
          picker.reload().then(function () { say("Sorry, that time was just taken. Please pick another."); });
          return;
        }
        say(politeFailure(got.response, got.body));
      });
    });
  }

  var booking = byId("booking-page");
  if (booking) bookingPage(booking);
  var manage = byId("manage-page");
  if (manage) managePage(manage);
})();
