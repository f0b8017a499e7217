// Sensor pages over /app/ws: the enrolment wizard moves on by itself when the device claims
// its code or sends its first reading, the live chart draws each reading as it arrives, and
// the devices list shows each device going offline or online (the analytics-worker's
// sensors.device.offline|online) and its last reading. Without this file the pages still work
// (reload to see the latest).
"use strict";

// The devices' events over the console's live feed (``feed`` and ``refresher`` are in
// console.js, which every page loads first).
function followDevices(deviceIds, events, onEvent, onSubscribed) {
  return feed({ events, resources: deviceIds }, onEvent, onSubscribed);
}

const DEVICE_EVENTS = ["claim_issued", "claimed", "commissioned", "revoked"]
  .map((verb) => `sensors.device.${verb}`);
const followed = new Set(); // one socket per device and page, whatever htmx swaps in

function followEnrolment() {
  const steps = document.getElementById("enrol-steps");
  if (!steps || followed.has(`enrol:${steps.dataset.enrol}`)) return;
  const id = steps.dataset.enrol;
  followed.add(`enrol:${id}`);
  const refresh = refresher(`/app/devices/${encodeURIComponent(id)}/enrol`, "#enrol-steps");
  followDevices([id], DEVICE_EVENTS, refresh, () => {
    document.body.dataset.live = "subscribed";
    refresh(); // a step taken before the subscription
  });
}

// The chart keeps the newest points (time in ms, value) and redraws its polyline.
const MAX_POINTS = 600;

function drawChart(figure, series) {
  const svg = figure.querySelector("svg");
  const [width, height, pad] = [600, 200, 24];
  const line = svg.querySelector("polyline");
  if (!series.length) return;
  const times = series.map((p) => p[0]);
  const values = series.map((p) => p[1]);
  const [t0, t1] = [Math.min(...times), Math.max(...times)];
  let [lo, hi] = [Math.min(...values), Math.max(...values)];
  if (hi === lo) { lo -= 1; hi += 1; }
  const x = (t) => pad + (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0)) * (width - 2 * pad);
  const y = (v) => height - pad - ((v - lo) / (hi - lo)) * (height - 2 * pad);
  line.setAttribute("points", series.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" "));
  svg.querySelector("[data-label=high]").textContent = hi.toFixed(2);
  svg.querySelector("[data-label=low]").textContent = lo.toFixed(2);
  figure.dataset.count = String(series.length);
}

// A telemetry event carries every reading only of metrics an alert rule follows; of the
// others, a summary per metric whose newest reading is the point drawn (ADR 0304).
function livePoints(data, metric) {
  const readings = data.readings || {};
  const points = [];
  (readings.metrics || []).forEach((name, i) => {
    if (name === metric) points.push([Date.parse(readings.times[i]), Number(readings.values[i])]);
  });
  if (points.length) return points;
  return (data.series || []).filter((s) => s.metric === metric)
    .map((s) => [Date.parse(s.last), Number(s.lastValue)]);
}

function followChart() {
  const figure = document.getElementById("live-chart");
  if (!figure || followed.has(`chart:${figure.dataset.device}`)) return;
  followed.add(`chart:${figure.dataset.device}`);
  const metric = figure.dataset.metric;
  const series = JSON.parse(figure.dataset.series || "[]");
  const latest = document.getElementById("latest");
  followDevices([figure.dataset.device], ["sensors.telemetry.received"], (event) => {
    livePoints(event.data || {}, metric).forEach((point) => series.push(point));
    series.sort((a, b) => a[0] - b[0]);
    series.splice(0, Math.max(0, series.length - MAX_POINTS));
    drawChart(figure, series);
    const last = series[series.length - 1];
    if (last) latest.textContent = `${last[1]} ${figure.dataset.unit} at ${new Date(last[0]).toISOString()}`;
  }, () => { figure.dataset.live = "subscribed"; });
}

// The devices list: a status cell and a last-seen cell per device, updated in place.
const STATUS_EVENTS = ["sensors.device.offline", "sensors.device.online",
  "sensors.telemetry.received"];

function followStatuses() {
  const table = document.getElementById("devices");
  if (!table || followed.has("statuses")) return;
  const cells = new Map();
  table.querySelectorAll("[data-status-of]").forEach((cell) => {
    cells.set(cell.dataset.statusOf, cell);
  });
  if (!cells.size) return;
  followed.add("statuses");
  followDevices([...cells.keys()], STATUS_EVENTS, (event) => {
    const cell = cells.get(event.subject);
    if (!cell) return;
    const seen = cell.parentElement.querySelector("[data-seen]");
    if (event.type === "sensors.telemetry.received") {
      cell.textContent = "online";
      seen.textContent = event.time;
    } else {
      cell.textContent = event.data.status;
    }
  }, () => { table.dataset.live = "subscribed"; });
}

function followSensors() {
  followEnrolment();
  followChart();
  followStatuses();
}
document.addEventListener("DOMContentLoaded", followSensors);
document.addEventListener("htmx:afterSettle", followSensors);
