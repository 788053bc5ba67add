// The marking page: one written item at a time, one answer (or group of identical answers)
// at a time. Every action is sent at once; the server answers with the answer's new state.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  items: [],
  item: null, // key of the item shown
  unit: null, // the answer shown, as /api/unit returns it
  names: false,
  mathjax: false, // Debian's libjs-mathjax is there to load
  grader: localStorage.getItem("mark-grader") || "",
  holder: sessionStorage.getItem("mark-holder") || Math.random().toString(36).slice(2),
  queue: Promise.resolve(), // writes go one after another, each with the latest version
};
sessionStorage.setItem("mark-holder", state.holder);

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok && response.status !== 409) throw new Error(data.error || response.status);
  return { data, conflict: response.status === 409 };
}

function say(text, kind = "") {
  const status = $("status");
  status.textContent = text;
  status.className = kind;
}

function item() {
  return state.items.find((entry) => entry.key === state.item);
}

function points(value) {
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 100) / 100);
}

// --- rendering ------------------------------------------------------------------------------

function renderItems(progress) {
  const nav = $("items");
  nav.replaceChildren();
  for (const entry of state.items) {
    const done = progress.items[entry.key];
    const button = document.createElement("button");
    button.textContent = `${entry.title} ${done.graded}/${done.total}`;
    button.className = entry.key === state.item ? "current" : "";
    if (done.graded === done.total) button.classList.add("complete");
    button.addEventListener("click", () => enqueue(() => openItem(entry.key)));
    nav.append(button);
  }
  const whole = progress.class;
  $("class-progress").textContent = `Class: ${whole.graded}/${whole.total} answers graded`;
}

function renderRubric() {
  const current = item();
  $("item-title").textContent = `${current.title} (${points(current.max_points)} pt)`;
  $("reference").innerHTML = current.reference; // sanitised by the server, like answers
  typeset($("reference"));
  const list = $("rubric");
  list.replaceChildren();
  current.rubric.forEach((entry, index) => {
    const row = document.createElement("li");
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.dataset.key = entry.key;
    box.tabIndex = -1;
    box.addEventListener("change", () => enqueue(() => toggle(index)));
    const key = document.createElement("kbd");
    key.textContent = index < 9 ? String(index + 1) : "";
    const value = document.createElement("span");
    value.className = "points";
    value.textContent = `${entry.points > 0 ? "+" : ""}${points(entry.points)}`;
    const text = document.createElement("span");
    text.textContent = entry.text;
    label.append(box, key, value, text);
    row.append(label);
    list.append(row);
  });
}

function renderUnit() {
  const unit = state.unit;
  const current = item();
  let head = `Answer #${unit.number} · ${unit.position} of ${unit.units}`;
  if (unit.members > 1) head += ` · group of ${unit.members} identical answers`;
  if (unit.names) head += ` · ${unit.names.join(", ")}`;
  $("answer-head").textContent = head;
  $("answer").innerHTML = unit.html; // sanitised by the server; the CSP runs none of it
  typeset($("answer"));
  $("figure").hidden = !unit.figure;
  if (unit.figure) $("figure-img").src = unit.figure;
  else $("figure-img").removeAttribute("src");
  for (const box of $("rubric").querySelectorAll("input")) {
    box.checked = unit.applied.includes(box.dataset.key);
  }
  $("score").textContent = unit.graded
    ? `${points(unit.points)} / ${points(current.max_points)} points`
    : `not graded (max ${points(current.max_points)})`;
  if (document.activeElement !== $("comment")) $("comment").value = unit.comment;
  $("ungroup").disabled = unit.members < 2;
  if (unit.auto) say(`Marked 0 automatically: ${unit.comment}. Any rubric item overrides it.`, "auto");
  else if (unit.graded) say(`Graded by ${unit.grader} at ${unit.when}`, "graded");
  else if (unit.held_by_other) say("Another TA has this answer open right now.", "warning");
  else say("Not graded yet");
  renderItems(unit.progress);
  if (!performance.getEntriesByName("first-answer").length) {
    performance.mark("first-answer");
    loadMathJax();
  }
}

// MathJax (~100 KB of script) starts after the first answer is shown, not before; its start-up
// typesets that answer (mathjax-config.js), and typeset() every later one.
function loadMathJax() {
  if (!state.mathjax || document.getElementById("mathjax")) return;
  const script = document.createElement("script");
  script.id = "mathjax";
  script.src = "/mathjax/MathJax.js";
  document.head.append(script);
}

function typeset(element) {
  if (window.MathJax && window.MathJax.Hub) window.MathJax.Hub.Queue(["Typeset", window.MathJax.Hub, element]);
}

// --- navigation -----------------------------------------------------------------------------

async function openUnit(itemKey, number) {
  const query = new URLSearchParams({ item: itemKey, n: number, holder: state.holder, names: state.names ? "1" : "0" });
  const { data } = await api(`/api/unit?${query}`);
  show(data);
}

function show(data) {
  const itemKey = data.item;
  if (state.item !== itemKey) {
    state.item = itemKey;
    renderRubric();
  }
  state.unit = data;
  history.replaceState(null, "", `#${itemKey}/${data.number}`);
  renderUnit();
}

async function nextUngraded(itemKey = state.item, after = state.unit && state.item === itemKey ? state.unit.number : null) {
  const { data } = await api("/api/navigate", { item: itemKey, holder: state.holder, after, to: "ungraded", names: state.names });
  if (data.unit) return show(data.unit);
  if (state.item !== itemKey) await openFirst(itemKey);
  if (data.held_by_others) say(`No ungraded answer is free: ${data.held_by_others} open with another TA.`, "warning");
  else say("Every answer to this item is graded.", "done");
}

async function openFirst(itemKey) {
  const { data } = await api("/api/navigate", { item: itemKey, holder: state.holder, after: null, to: "next", names: state.names });
  if (data.unit) show(data.unit);
}

async function step(to) {
  const { data } = await api("/api/navigate", { item: state.item, holder: state.holder, after: state.unit.number, to, names: state.names });
  if (data.unit) show(data.unit);
  else say(to === "next" ? "This is the last answer." : "This is the first answer.");
}

function openItem(itemKey) {
  return nextUngraded(itemKey, null);
}

function nextItem(delta) {
  const index = state.items.findIndex((entry) => entry.key === state.item);
  const target = state.items[(index + delta + state.items.length) % state.items.length];
  return openItem(target.key);
}

// --- marking --------------------------------------------------------------------------------

// Every action waits for the one before: each write carries the version the last one returned.
let pending = 0; // actions not finished yet, as body[data-pending] (tests wait for 0)
function enqueue(action) {
  document.body.dataset.pending = ++pending;
  state.queue = state.queue
    .then(action)
    .catch((error) => say(`Refused or not reached: ${error.message}`, "error"))
    .finally(() => (document.body.dataset.pending = --pending));
  return state.queue;
}

async function send(change) {
  const unit = state.unit;
  const body = { item: state.item, n: unit.number, version: unit.version, grader: state.grader, holder: state.holder, names: state.names, ...change };
  const { data, conflict } = await api("/api/mark", body);
  if (state.unit.number !== data.number || state.item !== data.item) return;
  state.unit = data;
  renderUnit();
  if (conflict) say("Another TA changed this answer meanwhile: this is their mark now; apply yours again if needed.", "warning");
}

function toggle(index) {
  const entry = item().rubric[index];
  if (!entry || !state.unit) return;
  const applied = new Set(state.unit.applied);
  if (applied.has(entry.key)) applied.delete(entry.key);
  else applied.add(entry.key);
  return send({ applied: [...applied] });
}

let commentTimer = null;
function saveComment() {
  clearTimeout(commentTimer);
  commentTimer = null;
  return enqueue(() => {
    if (state.unit && $("comment").value !== state.unit.comment) return send({ comment: $("comment").value });
  });
}

async function ungroup() {
  if (!state.unit || state.unit.members < 2) return;
  await api("/api/ungroup", { item: state.item, n: state.unit.number, grader: state.grader });
  await openUnit(state.item, state.unit.number);
  say("Ungrouped: each of these answers is now graded on its own (each kept this mark).");
}

function toggleNames() {
  state.names = !state.names;
  $("names").textContent = state.names ? "Names shown (b)" : "Names hidden (b)";
  return openUnit(state.item, state.unit.number);
}

// --- the rubric editor ----------------------------------------------------------------------

function field(value, size, label) {
  const input = document.createElement("input");
  input.value = value;
  input.size = size;
  input.setAttribute("aria-label", label);
  return input;
}

function button(text, action) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.addEventListener("click", () => enqueue(action));
  return element;
}

async function editRubric(change) {
  const { data } = await api("/api/rubric", { item: state.item, grader: state.grader, ...change });
  state.items = data.items;
  renderRubric();
  renderEditor();
  await openUnit(state.item, state.unit.number);
}

function renderEditor() {
  const form = $("rubric-editor");
  form.replaceChildren();
  for (const entry of item().rubric) {
    const row = document.createElement("div");
    const value = field(entry.points, 4, "points");
    const text = field(entry.text, 40, "text");
    row.append(value, text,
      button("Save", () => editRubric({ op: "edit", key: entry.key, points: Number(value.value), text: text.value })),
      button("Delete", () => editRubric({ op: "delete", key: entry.key })));
    form.append(row);
  }
  const row = document.createElement("div");
  const value = field("0", 4, "new item's points");
  const text = field("", 40, "new item's text");
  row.append(value, text, button("Add", () => editRubric({ op: "add", points: Number(value.value), text: text.value })));
  form.append(row);
}

function toggleEditor() {
  const form = $("rubric-editor");
  form.hidden = !form.hidden;
  if (!form.hidden) {
    renderEditor();
    form.querySelector("input").focus();
  }
}

// --- keys and start -------------------------------------------------------------------------

const KEYS = {
  n: () => nextUngraded(),
  j: () => step("next"),
  ArrowDown: () => step("next"),
  k: () => step("previous"),
  ArrowUp: () => step("previous"),
  "]": () => nextItem(1),
  "[": () => nextItem(-1),
  0: () => send({ applied: [] }),
  x: () => send({ clear: true }),
  u: ungroup,
  b: toggleNames,
  e: toggleEditor,
  c: () => $("comment").focus(),
};

function onKey(event) {
  const typing = ["INPUT", "TEXTAREA"].includes(event.target.tagName);
  if (typing) {
    if (event.key === "Escape") event.target.blur();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || !state.unit || !$("ask-name").hidden) return;
  const action = /^[1-9]$/.test(event.key) ? () => toggle(Number(event.key) - 1) : KEYS[event.key];
  if (!action) return;
  event.preventDefault();
  enqueue(action);
}

function bind() {
  document.addEventListener("keydown", onKey);
  $("next-ungraded").addEventListener("click", () => enqueue(() => nextUngraded()));
  $("previous").addEventListener("click", () => enqueue(() => step("previous")));
  $("next").addEventListener("click", () => enqueue(() => step("next")));
  $("next-item").addEventListener("click", () => enqueue(() => nextItem(1)));
  $("zero").addEventListener("click", () => enqueue(() => send({ applied: [] })));
  $("clear").addEventListener("click", () => enqueue(() => send({ clear: true })));
  $("ungroup").addEventListener("click", () => enqueue(ungroup));
  $("edit").addEventListener("click", toggleEditor);
  $("names").addEventListener("click", () => enqueue(toggleNames));
  $("comment").addEventListener("input", () => {
    clearTimeout(commentTimer);
    commentTimer = setTimeout(saveComment, 300);
  });
  $("comment").addEventListener("blur", saveComment);
  $("grader").addEventListener("change", () => setGrader($("grader").value));
  $("name-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setGrader($("name-input").value);
    $("ask-name").hidden = true;
    enqueue(start);
  });
}

function setGrader(name) {
  state.grader = name.trim().slice(0, 80);
  localStorage.setItem("mark-grader", state.grader);
  $("grader").value = state.grader;
}

async function start() {
  const boot = $("boot"); // the items, sent with the page (the same as /api/items)
  const data = JSON.parse(boot.textContent);
  boot.remove();
  state.items = data.items;
  state.mathjax = data.mathjax;
  if (!data.mathjax) say("MathJax is not installed (apt-get install libjs-mathjax): math shows as TeX.");
  if (!(await openFromHash())) await openItem(state.items[0].key);
  window.addEventListener("hashchange", () => enqueue(openFromHash));
}

// #item/number: an answer to open (a bookmark, or the browser's back and forward)
async function openFromHash() {
  const [itemKey, number] = decodeURIComponent(location.hash.slice(1)).split("/");
  if (!state.items.some((entry) => entry.key === itemKey) || !Number(number)) return false;
  if (state.unit && state.item === itemKey && state.unit.number === Number(number)) return true;
  await openUnit(itemKey, Number(number));
  return true;
}

bind();
$("grader").value = state.grader;
if (state.grader) enqueue(start);
else {
  $("ask-name").hidden = false;
  $("name-input").focus();
}
