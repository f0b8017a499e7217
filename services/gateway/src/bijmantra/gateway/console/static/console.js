// Bijmantra console: progressive enhancement only; every page reads without this file.
"use strict";

// An analysis page follows its job over /app/ws: progress events move the bar, and the
// end of the job swaps in the results (no reload).
const following = new Set();

function followAnalysis(box) {
  const id = box.dataset.analysis;
  if (!id || following.has(id) || !["queued", "running"].includes(box.dataset.status)) return;
  following.add(id);
  const refresh = refresher(`/app/analyses/${encodeURIComponent(id)}`, "#analysis");
  const socket = feed({ events: ["analysis.*"], resources: [id] }, (event) => {
    if (event.type === "analysis.progress") {
      const percent = Math.round((event.data.progress || 0) * 100);
      document.getElementById("progress").value = percent;
      document.getElementById("percent").textContent = `${percent} %`;
      document.getElementById("stage").textContent = `running (${event.data.stage})`;
    } else if (["analysis.completed", "analysis.failed", "analysis.cancelled"].includes(event.type)) {
      socket.close();
      refresh();
    }
  }, refresh); // on subscribing: anything that happened before the subscription
}

// A refresh of one part of the page (swapped whole) that starts only once the one before it
// has been swapped in, and finds its target then. Queued by htmx behind a slow one instead, a
// refresh went into the element the slow one replaced, off the page, and the slow one's stale
// view stayed: a subscription's refresh answering after the job ended hid its result.
function refresher(url, target) {
  let previous = Promise.resolve();
  return () => {
    previous = previous
      .then(() => htmx.ajax("GET", url, { target, swap: "outerHTML" }))
      .catch(() => undefined);
  };
}

// The console's live feed (/app/ws), for every page that follows something (sensors.js too):
// subscribe once ready, answer pings, hand on each event (one by one or in a batch), and call
// onSubscribed when the server confirms a subscription that is no resume, so what it reads
// then misses nothing. A socket that drops (too slow, the stream lost, a gateway restarted)
// comes back and resumes after its last frame's resumeAfter, missing and repeating nothing
// (ADR 0384); when that point is gone (not_found) it subscribes afresh, and onSubscribed
// reloads. Returns what ``close()`` stops for good.
const NO_RETURN = [4401, 4403, 4429]; // signed out, another origin, too many sockets
function feed(subscription, onEvent, onSubscribed) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const live = { socket: null, ended: false, close() { this.ended = true; this.socket.close(); } };
  let resumeAfter = null;
  let resuming = false;
  let wait = 1000;
  const open = () => {
    if (live.ended) return; // closed while it waited to come back
    const socket = new WebSocket(`${scheme}//${location.host}/app/ws`);
    live.socket = socket;
    const subscribe = () => {
      resuming = resumeAfter !== null;
      const from = resuming ? { resumeAfter } : {};
      socket.send(JSON.stringify({ type: "subscribe", ...subscription, ...from }));
    };
    socket.addEventListener("message", (message) => {
      const frame = JSON.parse(message.data);
      if (frame.type === "ready") {
        subscribe();
      } else if (frame.type === "subscribed") {
        wait = 1000;
        if (onSubscribed && !resuming) onSubscribed();
      } else if (frame.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      } else if (frame.type === "event") {
        resumeAfter = frame.resumeAfter;
        onEvent(frame.event);
      } else if (frame.type === "events") {
        resumeAfter = frame.resumeAfter;
        frame.events.forEach(onEvent);
      } else if (frame.type === "error" && resuming && frame.error.code === "not_found") {
        resumeAfter = null; // gone from the stream: start from now, and reload
        subscribe();
      }
    });
    socket.addEventListener("close", (closed) => {
      if (live.ended || NO_RETURN.includes(closed.code)) return;
      setTimeout(open, wait);
      wait = Math.min(wait * 2, 30000);
    });
  };
  open();
  return live;
}

// The dashboard's analyses (rendered by the server, running ones first) follow their events:
// requested, started, progress, and how they ended; new ones are added at the top.
function followRunningAnalyses(section) {
  if (section.dataset.following) return;
  section.dataset.following = "1";
  const list = document.getElementById("running-list");
  const rows = new Map();
  for (const row of list.querySelectorAll("li[data-analysis]")) rows.set(row.dataset.analysis, row);
  feed({ events: ["analysis.*"] }, (event) => {
    const id = event.data.analysis_db_id || event.subject;
    let row = rows.get(id);
    if (!row) {
      row = document.createElement("li");
      const link = document.createElement("a");
      link.href = `/app/analyses/${encodeURIComponent(id)}`;
      link.textContent = event.data.type ? `${event.data.type} analysis` : "analysis";
      const bar = document.createElement("progress");
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute("aria-label", `progress of ${link.textContent}`);
      const state = document.createElement("span");
      state.className = "muted";
      row.append(link, " ", bar, " ", state);
      row.dataset.analysis = id;
      rows.set(id, row);
      list.prepend(row);
      document.getElementById("no-analyses")?.remove();
    }
    const bar = row.querySelector("progress");
    const state = row.querySelector("span");
    if (event.type === "analysis.progress") bar.value = Math.round((event.data.progress || 0) * 100);
    if (event.type === "analysis.completed") bar.value = 100;
    state.textContent = `${event.data.status}${event.data.stage ? ` (${event.data.stage})` : ""}`;
    row.dataset.status = event.data.status;
  });
}

// A genotype upload sent by HTMX shows how much of the file has gone up.
document.addEventListener("htmx:xhr:progress", (event) => {
  const form = event.target.closest ? event.target.closest("#upload") : null;
  if (!form || !event.detail.lengthComputable) return;
  const percent = Math.round((event.detail.loaded / event.detail.total) * 100);
  form.querySelector(".upload-progress").hidden = false;
  document.getElementById("upload-progress").value = percent;
  document.getElementById("upload-percent").textContent = `${percent} %`;
});

// A refused upload says why in place (the error page's message).
document.addEventListener("htmx:responseError", (event) => {
  const status = document.getElementById("upload-status");
  if (!status || !event.target.closest || !event.target.closest("#upload")) return;
  const page = new DOMParser().parseFromString(event.detail.xhr.responseText, "text/html");
  const message = page.querySelector("[role=alert]");
  status.setAttribute("role", "alert");
  status.textContent = message ? message.textContent : `Upload failed (${event.detail.xhr.status})`;
});

// A request HTMX sent that a protection refused (a rate limit, the organization's share, a
// moment's outage) says so above the page, with when to try again: HTMX swaps no error
// answer, so a search typed too fast looked as if it did nothing (ADR 0354).
document.addEventListener("htmx:responseError", (event) => {
  const xhr = event.detail.xhr;
  if (![429, 503].includes(xhr.status)) return;
  if (event.target.closest && event.target.closest("#upload")) return;
  const page = new DOMParser().parseFromString(xhr.responseText, "text/html");
  const said = [page.querySelector("[role=alert]"), page.querySelector(".retry")];
  let notice = document.getElementById("refused");
  if (!notice) {
    notice = document.createElement("p");
    notice.id = "refused";
    notice.className = "refused";
    notice.setAttribute("role", "alert");
    document.getElementById("main").prepend(notice);
  }
  const text = said.filter(Boolean).map((p) => p.textContent.trim()).join(" ");
  notice.textContent = text || `The server refused this request (${xhr.status}).`;
});

function followPage() {
  const box = document.getElementById("analysis");
  if (box) followAnalysis(box);
  const running = document.querySelector("[data-live-analyses]");
  if (running) followRunningAnalyses(running);
}
document.addEventListener("DOMContentLoaded", followPage);
document.addEventListener("htmx:afterSettle", followPage);
