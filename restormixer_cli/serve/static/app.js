// The page: pick or drop images, restore them one at a time through POST /restore (with the task,
// enlargement and output format picked), compare and download.
// An image in a format this browser cannot show is compared through its PNG preview (POST /preview).
"use strict";

const $ = (id) => document.getElementById(id);
const pending = [];
const showing = new Map();  // #before and #after -> the picture each shows
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
  const describe = () => {
    $("task-description").textContent = select.selectedOptions[0]?.dataset.description ?? "";
    offerScales(info.models.find((model) => model.task === select.value)?.scales ?? []);
  };
  select.addEventListener("change", describe);
  describe();
}

// A super-resolution task's factors (GET /models), the first by default; ×1, disabled, for the other tasks.
function offerScales(scales) {
  const select = $("scale");
  const options = scales.length ? scales.map((scale) => new Option(`×${scale}`, scale)) : [new Option("×1", "")];
  select.replaceChildren(...options);
  select.disabled = scales.length === 0;
}

function offerFormats(extensions) {
  const select = $("ext");
  if (select.options.length) return;
  const label = (ext) => (ext === "same" ? "same as input" : ext.toUpperCase());
  select.append(...extensions.map((ext) => new Option(label(ext), ext)));
  select.value = "same";
  select.disabled = false;
}

async function showHealth() {
  const health = await getJSON("/health");
  const limits = health.limits;
  $("health").textContent = `${health.status} · ${health.device} · v${health.version}`;
  const pixels = limits.max_pixels ? `, ${limits.max_pixels / 1e6} megapixels` : "";
  $("files").accept = limits.accept;
  offerFormats(limits.extensions);
  $("limits").textContent = `${limits.formats}; up to ${limits.max_upload_bytes / 2 ** 20} MiB${pixels}`;
  if (health.status === "loading") setTimeout(showHealth, 1000);
}

function detailOf(status, text) {
  try { return JSON.parse(text).detail; } catch { return `HTTP ${status}`; }  // not JSON: the status
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

function restore(file, options, entry) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    const query = new URLSearchParams({ ...options, suffix: "_restored" });
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
        const said = [xhr.getResponseHeader("X-Restormixer-Route"), xhr.getResponseHeader("X-Restormixer-Notes")];
        resolve({ blob: xhr.response, name: filenameOf(xhr.getResponseHeader("Content-Disposition")),
                  notes: said.filter(Boolean).join("; ") || null });
      } else {
        resolve({ error: detailOf(xhr.status, await xhr.response.text()) });
      }
    };
    xhr.onerror = () => { entry.progress.remove(); resolve({ error: "the server cannot be reached" }); };
    const form = new FormData();
    form.append("file", file);
    xhr.send(form);
  });
}

// An image to show: the file, its object URL and, once asked for, the promise of its preview.
function picture(blob) {
  return { blob, url: URL.createObjectURL(blob), preview: null };
}

// POST /preview: { url } of the PNG, or { error }; waits as told while the queue is full.
async function fetchPreview(blob) {
  const form = new FormData();
  form.append("file", blob);
  for (;;) {
    const response = await fetch("/preview", { method: "POST", body: form });
    if (response.ok) return { url: URL.createObjectURL(await response.blob()) };
    if (response.status !== 429) return { error: detailOf(response.status, await response.text()) };
    await new Promise((wake) => setTimeout(wake, 1000 * Number(response.headers.get("Retry-After") ?? 1)));
  }
}

async function showPreview(img) {
  const shown = showing.get(img);
  if (img.src !== shown.url) return;  // the preview itself does not load: nothing else to try
  shown.preview ??= fetchPreview(shown.blob);
  const { url, error } = await shown.preview;
  if (showing.get(img) !== shown) return;  // another result is shown by now
  if (error) {
    $("viewer-note").textContent = `this browser cannot show the format, and no preview: ${error}`;
    return;
  }
  img.src = url;
  $("preview-note").hidden = false;
}

function show(item, before, after, note) {
  document.querySelectorAll("#results li.shown").forEach((li) => li.classList.remove("shown"));
  item.classList.add("shown");
  for (const [img, shown] of [[$("before"), before], [$("after"), after]]) {
    showing.set(img, shown);
    img.src = shown.url;
  }
  $("viewer-note").textContent = note ?? "";
  $("preview-note").hidden = true;
  $("viewer").hidden = false;
}

function finish(file, entry, result) {
  if (result.error) {
    entry.status.textContent = result.error;
    entry.status.className = "error";
    return;
  }
  const before = picture(file);
  const after = picture(result.blob);
  entry.status.textContent = result.notes ? `done (${result.notes})` : "done";
  const link = document.createElement("a");
  link.href = after.url;
  link.download = result.name;
  link.textContent = `download ${result.name}`;
  link.className = "download";
  const compare = document.createElement("button");
  compare.type = "button";
  compare.textContent = "compare";
  compare.addEventListener("click", () => show(entry.item, before, after, result.notes));
  entry.item.append(link, compare);
  show(entry.item, before, after, result.notes);
}

async function drain() {
  if (busy) return;
  busy = true;
  while (pending.length) {
    const { file, options, entry } = pending.shift();
    finish(file, entry, await restore(file, options, entry));
  }
  busy = false;
}

// The picks at the time the files are added: changing them later does not change queued files.
function picked() {
  const options = { task: $("task").value, ext: $("ext").value || "same" };
  if (!$("scale").disabled) options.scale = $("scale").value;
  return options;
}

function add(files) {
  for (const file of files) {
    pending.push({ file, options: picked(), entry: addEntry(file) });
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
  for (const img of [$("before"), $("after")]) img.addEventListener("error", () => showPreview(img));
  setSplit();
}

wire();
showModels();
showHealth();
