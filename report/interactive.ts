/**
 * The report's one script: sorting and filtering of its tables marked `sortable`, in plain
 * JavaScript inlined in the page (no framework, nothing loaded). A click (or Enter) on a column
 * header sorts the rows by that column: numerically by the cell's `data-value` where it has one,
 * else by its text; the first click sorts largest first, the next reverses, ties keep the page's
 * order. A search box above each table hides the rows whose text does not contain what is typed.
 * Without the script the tables read as before. The page's Content-Security-Policy allows this
 * script by its SHA-256 and nothing else.
 */
import { createHash } from "node:crypto";

export const TABLE_SCRIPT = `(function () {
  "use strict";
  function key(row, col) {
    var cell = row.cells[col];
    if (!cell) return { n: NaN, s: "" };
    var v = cell.querySelector("[data-value]");
    var s = (cell.textContent || "").trim();
    var n = v ? Number(v.getAttribute("data-value")) : s === "" ? NaN : Number(s);
    return { n: n, s: s };
  }
  function compare(a, b) {
    return !isNaN(a.n) && !isNaN(b.n) ? a.n - b.n : a.s.localeCompare(b.s, undefined, { numeric: true });
  }
  function missing(k) {
    return isNaN(k.n) && (k.s === "" || k.s === "\u2014" || k.s === "\u2013");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var body = table.tBodies[0];
    if (!body || !table.tHead) return;
    Array.prototype.forEach.call(body.rows, function (row, i) { row.setAttribute("data-order", String(i)); });
    var input = document.createElement("input");
    input.type = "search";
    input.className = "table-filter";
    input.placeholder = "filter rows";
    input.setAttribute("aria-label", "filter the rows of the table below");
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      Array.prototype.forEach.call(body.rows, function (row) {
        row.hidden = q !== "" && (row.textContent || "").toLowerCase().indexOf(q) < 0;
      });
    });
    table.parentNode.insertBefore(input, table);
    var heads = table.tHead.rows[table.tHead.rows.length - 1].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.tabIndex = 0;
      th.classList.add("sort");
      function sort() {
        var dir = th.getAttribute("aria-sort") === "descending" ? 1 : -1;
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var ka = key(a, col), kb = key(b, col);
          // rows without a value (a dash) stay last either way
          if (missing(ka) !== missing(kb)) return missing(ka) ? 1 : -1;
          return dir * compare(ka, kb) || Number(a.getAttribute("data-order")) - Number(b.getAttribute("data-order"));
        });
        rows.forEach(function (row) { body.appendChild(row); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); }
      });
    });
  });
})();`;

/** The CSP source that allows exactly {@link TABLE_SCRIPT}. */
export const TABLE_SCRIPT_HASH = `'sha256-${createHash("sha256").update(TABLE_SCRIPT).digest("base64")}'`;
