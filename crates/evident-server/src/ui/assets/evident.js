// The audit log page's progressive enhancement. The page works without it
// (filters are a GET form, paging and sort are links, every event has its own
// page); this adds local times, rows that open in place, copying, a progress
// note for slow answers, and the in-browser inclusion proof check.
// Every event field is written with textContent, never as HTML.
"use strict";

(function () {
  const pad = (n) => String(n).padStart(2, "0");

  function localTimes(root) {
    for (const time of root.querySelectorAll("time[datetime]")) {
      const when = new Date(time.getAttribute("datetime"));
      if (Number.isNaN(when.getTime())) continue;
      const offset = -when.getTimezoneOffset();
      const sign = offset >= 0 ? "+" : "-";
      const zone = `UTC${sign}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
      time.textContent =
        `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())} ` +
        `${pad(when.getHours())}:${pad(when.getMinutes())}:${pad(when.getSeconds())}`;
      time.title = `${time.getAttribute("datetime")} (UTC); shown in ${zone}`;
    }
  }

  function showLoading() {
    const loading = document.getElementById("loading");
    if (loading) loading.hidden = false;
    document.getElementById("main")?.setAttribute("aria-busy", "true");
  }

  // Back and Forward may restore the page from the cache as it was left:
  // with the note showing and the empty fields that a submit set aside.
  window.addEventListener("pageshow", () => {
    const loading = document.getElementById("loading");
    if (loading) loading.hidden = true;
    document.getElementById("main")?.removeAttribute("aria-busy");
    for (const field of document.querySelectorAll("form[method=get] [disabled]")) field.disabled = false;
  });

  function enhanceForms() {
    for (const form of document.querySelectorAll("form[method=get]")) {
      form.addEventListener("submit", () => {
        // Empty fields stay out of the address, so that links stay short.
        for (const field of form.elements) {
          if (field.name && !field.multiple && field.type !== "checkbox" && field.value === "") {
            field.disabled = true;
          }
        }
        showLoading();
      });
    }
    // On a phone the filters start folded unless some are set.
    const panel = document.querySelector("details.filter-panel");
    if (panel && window.matchMedia("(max-width: 640px)").matches && !/\(\d+ set\)/.test(panel.querySelector("summary").textContent)) {
      panel.open = false;
    }
    const account = document.getElementById("f-account");
    account?.addEventListener("change", () => account.form.requestSubmit());
    const types = document.getElementById("f-action");
    const count = document.getElementById("types-count");
    if (types && count && types.multiple) {
      const update = () => {
        count.textContent = `${types.selectedOptions.length}/${count.dataset.total} filters used`;
      };
      types.addEventListener("change", update);
    }
    for (const link of document.querySelectorAll(".paging a, a.sort, a.sort-toggle, .sizes a, .targets a")) {
      link.addEventListener("click", (event) => {
        if (!event.ctrlKey && !event.metaKey && !event.shiftKey) showLoading();
      });
    }
    // Downloads carry the viewer's time zone for the CSV's Time column.
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    for (const link of document.querySelectorAll("a.download")) {
      if (!zone) continue;
      const url = new URL(link.href);
      url.searchParams.set("tz", zone);
      link.href = url.toString();
    }
  }

  function element(tag, className, text) {
    const made = document.createElement(tag);
    if (className) made.className = className;
    if (text) made.textContent = text;
    return made;
  }

  // A row's detail: Copy, a link to the event's own page, the proof verdict, the JSON.
  function detailOf(row) {
    const id = row.getAttribute("aria-controls");
    const found = document.getElementById(id);
    if (found) return found;
    const base = row.dataset.event;
    const detail = element("tr", "detail");
    detail.id = id;
    detail.hidden = true;
    const cell = detail.insertCell();
    cell.colSpan = row.cells.length;
    const actions = element("div", "detail-actions");
    const copy = element("button", "copy", "Copy JSON");
    copy.type = "button";
    wireCopy(copy);
    const output = element("output", "proof");
    output.dataset.proof = `${base}/proof`;
    output.dataset.checkpoint = base.replace(/\/events\/[^/]+$/, "/checkpoint");
    actions.append(copy, link(base, "Open on its own page"), output);
    const pre = element("pre", "json", "Loading…");
    pre.dataset.src = `${base}/json`;
    cell.append(actions, pre);
    row.after(detail);
    return detail;
  }

  function toggle(row) {
    const detail = detailOf(row);
    const open = row.getAttribute("aria-expanded") !== "true";
    row.setAttribute("aria-expanded", String(open));
    detail.hidden = !open;
    if (open && !detail.dataset.loaded) {
      detail.dataset.loaded = "1";
      loadJson(detail).then(() => {
        const output = detail.querySelector("output.proof");
        if (output && !output.dataset.done) checkProof(output);
      });
    }
  }

  // A row's full JSON arrives when it first opens.
  async function loadJson(detail) {
    const pre = detail.querySelector("pre.json[data-src]");
    if (!pre) return;
    try {
      const response = await fetch(pre.dataset.src, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`the server answered ${response.status}`);
      pre.textContent = JSON.stringify(await response.json(), null, 2);
      pre.removeAttribute("data-src");
    } catch (error) {
      pre.textContent = `The event could not be loaded: ${error.message}`;
      detail.dataset.loaded = "";
    }
  }

  function enhanceRows() {
    for (const row of document.querySelectorAll("tr.event")) {
      row.addEventListener("click", (event) => {
        if (event.target.closest("a, button")) return;
        if (window.getSelection()?.toString()) return;
        toggle(row);
      });
      row.addEventListener("keydown", (event) => {
        if (event.target !== row) return;
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          toggle(row);
        }
      });
    }
    for (const button of document.querySelectorAll("button.copy")) wireCopy(button);
    const standalone = document.querySelector("main > .detail-actions output.proof");
    if (standalone) checkProof(standalone);
  }

  function wireCopy(button) {
      button.addEventListener("click", async () => {
        const json = button.closest("td, main")?.querySelector("pre.json");
        if (!json) return;
        try {
          await navigator.clipboard.writeText(json.textContent);
          button.textContent = "Copied";
        } catch {
          const range = document.createRange();
          range.selectNodeContents(json);
          const selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
          button.textContent = "Selected: press Ctrl+C";
        }
        setTimeout(() => (button.textContent = "Copy JSON"), 2000);
      });
  }

  // ---- The inclusion proof, checked here with WebCrypto (docs/integrity.md).

  const bytes = (text) => new TextEncoder().encode(text);
  const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const toBase64 = (data) => btoa(String.fromCharCode(...new Uint8Array(data)));
  const sha256 = async (data) => new Uint8Array(await crypto.subtle.digest("SHA-256", data));

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  // RFC 8785: keys sorted by UTF-16 code units, ECMAScript number and string forms.
  function canonical(value) {
    if (value === null || typeof value !== "object") return JSON.stringify(value);
    if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical(value[key])}`)
      .join(",")}}`;
  }

  const equal = (a, b) => a.length === b.length && a.every((byte, i) => byte === b[i]);

  // RFC 9162 §2.1.3.2: the root an inclusion proof leads to.
  async function rootFromProof(index, size, leafHash, path) {
    if (index >= size) throw new Error("the leaf index is past the tree size");
    let fn = index;
    let sn = size - 1;
    let hash = leafHash;
    for (const sibling of path) {
      if (sn === 0) throw new Error("the proof is longer than the tree is deep");
      if (fn % 2 === 1 || fn === sn) {
        hash = await sha256(concat([1], sibling, hash));
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) {
            fn = Math.floor(fn / 2);
            sn = Math.floor(sn / 2);
          }
        }
      } else {
        hash = await sha256(concat([1], hash, sibling));
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Error("the proof is shorter than the tree is deep");
    return hash;
  }

  // A C2SP signed note: body, blank line, "— name base64(key hash ‖ signature)" lines.
  async function checkSignature(note, verifierKey) {
    if (!verifierKey || !crypto.subtle.importKey) return "not checked";
    const split = note.indexOf("\n\n");
    if (split < 0) throw new Error("the checkpoint is not a signed note");
    const body = note.slice(0, split + 1);
    // name+hash+base64(0x01 ‖ key): the base64 may hold "+" itself.
    const first = verifierKey.indexOf("+");
    const second = verifierKey.indexOf("+", first + 1);
    const name = verifierKey.slice(0, first);
    const keyBytes = fromBase64(verifierKey.slice(second + 1));
    if (keyBytes[0] !== 1) return "not checked (not an Ed25519 key)";
    let key;
    try {
      key = await crypto.subtle.importKey("raw", keyBytes.slice(1), { name: "Ed25519" }, false, ["verify"]);
    } catch (error) {
      return `not checked (this browser cannot import Ed25519 keys: ${error.name})`;
    }
    for (const line of note.slice(split + 2).split("\n")) {
      const match = line.match(/^\u2014 (\S+) (\S+)$/);
      if (!match || match[1] !== name) continue;
      const signature = fromBase64(match[2]).slice(4);
      if (await crypto.subtle.verify({ name: "Ed25519" }, key, signature, bytes(body))) return "verified";
      throw new Error("the checkpoint's signature does not verify");
    }
    throw new Error("the checkpoint carries no signature by the server's key");
  }

  async function checkProof(output) {
    output.dataset.done = "1";
    output.textContent = "Checking the inclusion proof…";
    const eventJson = output.closest("td, main")?.querySelector("pre.json")?.textContent;
    try {
      if (!crypto.subtle) throw new Error("this page needs a secure context (HTTPS or localhost) for WebCrypto");
      const response = await fetch(output.dataset.proof, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`the server answered ${response.status}`);
      const found = await response.json();
      const shown = eventJson ? JSON.parse(eventJson) : null;
      if (shown && (found.leaf.id !== shown.id || found.leaf.seq !== shown.seq || found.leaf.action !== shown.action)) {
        throw new Error("the log's leaf is not the event shown");
      }
      if (found.leaf.pii_digest !== undefined) {
        const digest = toBase64(await sha256(bytes(canonical(found.pii))));
        if (digest !== found.leaf.pii_digest) throw new Error("the personal-data side-car does not match its digest");
      }
      const leafHash = await sha256(concat([0], bytes(canonical(found.leaf))));
      if (toBase64(leafHash) !== found.leaf_hash) throw new Error("the leaf does not hash to its leaf hash");
      const root = await rootFromProof(
        found.proof.leaf_index,
        found.proof.tree_size,
        leafHash,
        found.proof.hashes.map(fromBase64),
      );
      const lines = found.checkpoint.split("\n");
      if (Number(lines[1]) !== found.proof.tree_size) throw new Error("the proof and the checkpoint differ in size");
      if (!equal(root, fromBase64(lines[2]))) throw new Error("the proof does not lead to the checkpoint's root");
      const signature = await checkSignature(found.checkpoint, found.verifier_key);
      output.className = "proof ok";
      output.replaceChildren(
        `✓ In the log: its inclusion proof checks, in this browser, against the `,
        link(output.dataset.checkpoint, `checkpoint of size ${found.proof.tree_size}`),
        ` (signature ${signature}).`,
      );
    } catch (error) {
      output.className = "proof bad";
      output.textContent = `✗ The inclusion proof does not check: ${error.message}`;
    }
  }

  function link(href, text) {
    const anchor = document.createElement("a");
    anchor.href = href;
    anchor.textContent = text;
    return anchor;
  }

  document.addEventListener("DOMContentLoaded", () => {
    localTimes(document);
    enhanceForms();
    enhanceRows();
  });
})();
