// Bijmantra console: progressive enhancement only; every page reads without this file.
"use strict";

// An analysis page follows its job over /app/ws: progress events move the bar, and the
// end of the job swaps in the results (no reload).
const following = new Set();

function followAnalysis(box) {
  const id = box.dataset.analysis;
  if (!id || following.has(id) || !["queued", "running"].includes(box.dataset.status)) return;
  following.add(id);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/app/ws`);
  const refresh = () => htmx.ajax("GET", `/app/analyses/${encodeURIComponent(id)}`,
    { target: "#analysis", swap: "outerHTML" });
  socket.addEventListener("message", (message) => {
    const frame = JSON.parse(message.data);
    if (frame.type === "ready") {
      socket.send(JSON.stringify({ type: "subscribe", events: ["analysis.*"], resources: [id] }));
      refresh(); // anything that happened before the subscription
    } else if (frame.type === "ping") {
      socket.send(JSON.stringify({ type: "pong" }));
    } else if (frame.type === "event") {
      const event = frame.event;
      if (event.type === "analysis.progress") {
        const percent = Math.round((event.data.progress || 0) * 100);
        document.getElementById("progress").value = percent;
        document.getElementById("percent").textContent = `${percent} %`;
        document.getElementById("stage").textContent = `running (${event.data.stage})`;
      } else if (["analysis.completed", "analysis.failed", "analysis.cancelled"].includes(event.type)) {
        socket.close();
        refresh();
      }
    }
  });
}

function followPage() {
  const box = document.getElementById("analysis");
  if (box) followAnalysis(box);
}
document.addEventListener("DOMContentLoaded", followPage);
document.addEventListener("htmx:afterSettle", followPage);
