// The page: pick or drop images, restore them one at a time through POST /restore, compare and download.
"use strict";

const $ = (id) => document.getElementById(id);
const pending = [];
let busy = false;

async function getJSON(path) {
  const response = await fetch(path);
  return response.json();
}

async function showModels() {
  const info = await getJSON("/models");
  const select = $("task");
  for (const model of info.models) {
    const option = new Option(`${model.task}${model.state === "ready" ? "" : ` (${model.state})`}`, model.task);
    option.title = option.dataset.description = model.description;
    option.disabled = model.state === "failed";
    select.add(option);
  }
  select.value = info.default;
  select.disabled = false;
  const describe = () => { $("task-description").textContent = select.selectedOptions[0]?.dataset.description ?? ""; };
  select.addEventListener("change", describe);
  describe();
}

async function showHealth() {
  const health = await getJSON("/health");
  const limits = health.limits;
  $("health").textContent = `${health.status} · ${health.device} · v${health.version}`;
  const pixels = limits.max_pixels ? `, ${limits.max_pixels / 1e6} megapixels` : "";
  $("files").accept = limits.accept;
  $("limits").textContent = `${limits.formats}; up to ${limits.max_upload_bytes / 2 ** 20} MiB${pixels}`;
  if (health.status === "loading") setTimeout(showHealth, 1000);
}

function filenameOf(disposition) {
  const exact = /filename\*=UTF-8''([^;]+)/.exec(disposition ?? "");
  return exact ? decodeURIComponent(exact[1]) : "restored";
}

function addEntry(file) {
  const item = document.createElement("li");
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = file.name;
  const status = document.createElement("span");
  const progress = document.createElement("progress");
  progress.max = 1;
  progress.value = 0;
  item.append(name, " ", progress, " ", status);
  $("results").append(item);
  return { item, status, progress };
}

function restore(file, task, entry) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    const query = new URLSearchParams({ task, suffix: "_restored" });
    xhr.open("POST", `/restore?${query}`);
    xhr.responseType = "blob";
    entry.status.textContent = "uploading";
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) entry.progress.value = event.loaded / event.total;
    };
    xhr.upload.onload = () => {
      entry.status.textContent = "restoring…";
      entry.progress.removeAttribute("value");  // indeterminate while the model runs
    };
    xhr.onload = async () => {
      entry.progress.remove();
      if (xhr.status === 200) {
        resolve({ blob: xhr.response, name: filenameOf(xhr.getResponseHeader("Content-Disposition")),
                  notes: xhr.getResponseHeader("X-Restormixer-Notes") });
      } else {
        const text = await xhr.response.text();
        let detail = `HTTP ${xhr.status}`;
        try { detail = JSON.parse(text).detail; } catch { /* not JSON: keep the status */ }
        resolve({ error: detail });
      }
    };
    xhr.onerror = () => { entry.progress.remove(); resolve({ error: "the server cannot be reached" }); };
    const form = new FormData();
    form.append("file", file);
    xhr.send(form);
  });
}

function show(item, inputURL, outputURL, note) {
  document.querySelectorAll("#results li.shown").forEach((li) => li.classList.remove("shown"));
  item.classList.add("shown");
  $("before").src = inputURL;
  $("after").src = outputURL;
  $("viewer-note").textContent = note ?? "";
  $("viewer").hidden = false;
}

function finish(file, entry, result) {
  if (result.error) {
    entry.status.textContent = result.error;
    entry.status.className = "error";
    return;
  }
  const inputURL = URL.createObjectURL(file);
  const outputURL = URL.createObjectURL(result.blob);
  entry.status.textContent = result.notes ? `done (${result.notes})` : "done";
  const link = document.createElement("a");
  link.href = outputURL;
  link.download = result.name;
  link.textContent = `download ${result.name}`;
  link.className = "download";
  const compare = document.createElement("button");
  compare.type = "button";
  compare.textContent = "compare";
  compare.addEventListener("click", () => show(entry.item, inputURL, outputURL, result.notes));
  entry.item.append(link, compare);
  show(entry.item, inputURL, outputURL, result.notes);
}

async function drain() {
  if (busy) return;
  busy = true;
  while (pending.length) {
    const { file, task, entry } = pending.shift();
    finish(file, entry, await restore(file, task, entry));
  }
  busy = false;
}

function add(files) {
  for (const file of files) {
    pending.push({ file, task: $("task").value, entry: addEntry(file) });
  }
  drain();
}

function wire() {
  const drop = $("drop");
  $("files").addEventListener("change", (event) => { add(event.target.files); event.target.value = ""; });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    add(event.dataTransfer.files);
  });
  const setSplit = () => $("compare").style.setProperty("--split", `${$("slider").value}%`);
  $("slider").addEventListener("input", setSplit);
  $("after").addEventListener("error", () => { $("viewer-note").textContent = "this browser cannot show the format; download it"; });
  setSplit();
}

wire();
showModels();
showHealth();
