/* Shared by the review pages; the server inlines it where a page says {{COMMON_JS}}. */
"use strict";

/* The same keys undo and redo on both pages: z / Ctrl+Z undo, y / Ctrl+Y / Ctrl+Shift+Z redo. */
function undoRedoKey(e) {
  const ctrl = e.ctrlKey || e.metaKey, k = e.key.toLowerCase();
  if (k === "z" && !e.altKey) return e.shiftKey && ctrl ? "redo" : "undo";
  if (k === "y" && !e.altKey) return "redo";
  return null;
}

/* A lightbox: the item large beside its source frame with its box drawn, shot and time, and the neighbours of
   its track a key away (left / right). `describe(id)` gives {large, frame, box: [x0, y0, x1, y1] in frame
   pixels or null, frameWidth, caption, prev, next}. */
const Lightbox = (() => {
  let root = null, current = null, describe = null, onShow = null;
  function build() {
    root = document.createElement("div"); root.id = "lightbox"; root.hidden = true;
    root.innerHTML = '<div class="lb-body"><img class="lb-large" alt=""><div class="lb-frame"><img class="lb-frame-img" alt="">' +
      '<div class="lb-box"></div></div></div><div class="lb-caption"></div>' +
      '<div class="lb-help">&larr;/&rarr; previous / next in its track, Esc or f close</div>';
    root.addEventListener("click", (e) => { if (e.target === root) close(); });
    document.body.appendChild(root);
    root.querySelector(".lb-frame-img").addEventListener("load", placeBox);
  }
  function placeBox() {
    const d = current && describe(current), img = root.querySelector(".lb-frame-img"), box = root.querySelector(".lb-box");
    if (!d || !d.box || !img.naturalWidth) { box.hidden = true; return; }
    const s = img.clientWidth / (d.frameWidth || img.naturalWidth);
    Object.assign(box.style, {left: `${d.box[0] * s}px`, top: `${d.box[1] * s}px`,
                              width: `${(d.box[2] - d.box[0]) * s}px`, height: `${(d.box[3] - d.box[1]) * s}px`});
    box.hidden = false;
  }
  function show(id) {
    const d = describe(id); if (!d) return;
    current = id;
    root.querySelector(".lb-large").src = d.large;
    const frame = root.querySelector(".lb-frame");
    frame.hidden = !d.frame;
    root.querySelector(".lb-box").hidden = true;
    if (d.frame) root.querySelector(".lb-frame-img").src = d.frame;
    root.querySelector(".lb-caption").textContent = d.caption + (d.prev || d.next ? "" : "  (alone in its track)");
    root.hidden = false; root.dataset.id = id;
    if (onShow) onShow(id);
  }
  function open(id, describer, shown) { if (!root) build(); describe = describer; onShow = shown; show(id); }
  function close() { if (root) { root.hidden = true; current = null; } }
  function isOpen() { return !!root && !root.hidden; }
  function key(e) {
    if (e.key === "Escape" || e.key === "f") { close(); return true; }
    const d = describe(current);
    if ((e.key === "ArrowLeft" || e.key === "p") && d.prev) { show(d.prev); return true; }
    if ((e.key === "ArrowRight" || e.key === "n") && d.next) { show(d.next); return true; }
    return true;  // the page under the lightbox takes no keys while it is open
  }
  return {open, close, isOpen, key, current: () => current};
})();

/* A question asked once, on the page (a browser's confirm() is blocked or dismissed in some setups):
   Enter or the button confirms, Esc or "Back" returns to the review. */
const Confirm = (() => {
  let root = null, action = null;
  function build() {
    root = document.createElement("div"); root.id = "confirm"; root.hidden = true;
    root.innerHTML = '<div class="confirm-box"><p id="confirm-text"></p><button id="confirm-yes"></button> ' +
      '<button id="confirm-no">Back to the review</button></div>';
    document.body.appendChild(root);
    root.querySelector("#confirm-yes").onclick = () => done(true);
    root.querySelector("#confirm-no").onclick = () => done(false);
    document.addEventListener("keydown", (e) => {
      if (root.hidden) return;
      if (e.key === "Enter") { e.preventDefault(); done(true); }
      if (e.key === "Escape") { e.preventDefault(); done(false); }
    });
  }
  function done(yes) { root.hidden = true; const fn = action; action = null; if (yes && fn) fn(); }
  function ask(text, yesLabel, onYes) {
    if (!root) build();
    root.querySelector("#confirm-text").textContent = text;
    root.querySelector("#confirm-yes").textContent = yesLabel;
    action = onYes; root.hidden = false; root.querySelector("#confirm-yes").focus();
  }
  return {ask, isOpen: () => !!root && !root.hidden};
})();
