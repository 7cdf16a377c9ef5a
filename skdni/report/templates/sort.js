// Click a column header to sort its table (numbers as numbers, text as text).
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var dir = th.getAttribute("data-dir") === "desc" ? "asc" : "desc";
      table.querySelectorAll("thead th").forEach(function (h) {
        h.removeAttribute("data-dir");
      });
      th.setAttribute("data-dir", dir);
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[col];
        var raw = cell ? cell.getAttribute("data-value") || cell.textContent : "";
        var num = parseFloat(raw);
        return isNaN(num) ? raw.toLowerCase() : num;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), s;
        if (typeof x === typeof y) { s = x < y ? -1 : x > y ? 1 : 0; }
        else { s = typeof x === "number" ? -1 : 1; }
        return dir === "asc" ? s : -s;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
