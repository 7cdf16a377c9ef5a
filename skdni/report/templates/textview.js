// The interactive text view: every character shaded by the chosen unit's activation
// (red positive, blue negative), the chosen feature's spans underlined; hovering a
// character shows its activations and labels. Data: #tv-data (int8 activations and
// uint8 feature values, base64).
(function () {
  var node = document.getElementById("tv-data");
  if (!node) { return; }
  var data = JSON.parse(node.textContent);
  function bytes(b64) {
    var raw = atob(b64), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out;
  }
  var chars = Array.from(data.text);
  var n = chars.length;
  var acts = data.units.map(function (u) { return new Int8Array(bytes(u.data).buffer); });
  var feats = data.features.map(function (f) { return bytes(f.data); });
  var textOf = new Int32Array(n), posOf = new Int32Array(n);
  for (var t = 0; t < data.starts.length; t++) {
    var end = t + 1 < data.starts.length ? data.starts[t + 1] : n;
    for (var i = data.starts[t]; i < end; i++) { textOf[i] = t; posOf[i] = i - data.starts[t]; }
  }
  var box = document.getElementById("tv-text");
  var tip = document.getElementById("tv-tip");
  var frag = document.createDocumentFragment();
  var spans = new Array(n);
  for (var c = 0; c < n; c++) {
    if (c > 0 && textOf[c] !== textOf[c - 1] && chars[c - 1] !== "\n") {
      frag.appendChild(document.createTextNode("\n"));  // texts start on a new line
    }
    var s = document.createElement("span");
    s.textContent = chars[c] === "\n" ? "\u21b5\n" : chars[c];
    s.setAttribute("data-i", String(c));
    spans[c] = s;
    frag.appendChild(s);
  }
  box.appendChild(frag);
  var state = { unit: data.initial_unit, feature: data.initial_feature };
  function value(f, i) {
    var q = feats[f][i], meta = data.features[f];
    if (q === 255) { return NaN; }
    return meta.lo + (meta.hi - meta.lo) * q / 254;
  }
  function shade() {
    var a = acts[state.unit];
    for (var i = 0; i < n; i++) {
      var v = a[i] / 127, alpha = Math.min(1, Math.abs(v)).toFixed(3);
      spans[i].style.backgroundColor = v >= 0
        ? "rgba(214,96,77," + alpha + ")" : "rgba(67,147,195," + alpha + ")";
      var cls = "";
      if (state.feature >= 0) {
        var x = value(state.feature, i);
        cls = isNaN(x) ? "nan" : x > 0 ? "on" : "";
      }
      spans[i].className = cls;
    }
    document.querySelectorAll("button.tv-unit").forEach(function (b) {
      var u = Number(b.getAttribute("data-index"));
      b.classList.toggle("active", u === state.unit);
      var enc = state.feature >= 0 &&
        data.features[state.feature].units.indexOf(u) >= 0;
      b.classList.toggle("encodes", enc);
    });
    var meta = data.units[state.unit];
    document.getElementById("tv-status").textContent = "shading: unit " + meta.name +
      " (scale \u00b1" + meta.scale.toPrecision(3) + ")" +
      (state.feature >= 0 ? "; underlined: " + data.features[state.feature].name : "");
    box.setAttribute("data-unit", meta.name);
  }
  document.querySelectorAll("button.tv-unit").forEach(function (b) {
    b.addEventListener("click", function () {
      state.unit = Number(b.getAttribute("data-index"));
      shade();
    });
  });
  var select = document.getElementById("tv-feature");
  select.addEventListener("change", function () {
    state.feature = Number(select.value);
    var units = state.feature >= 0 ? data.features[state.feature].units : [];
    if (units.length) { state.unit = units[0]; }
    shade();
  });
  box.addEventListener("mouseover", function (ev) {
    var i = ev.target.getAttribute && ev.target.getAttribute("data-i");
    if (i === null || i === undefined) { return; }
    i = Number(i);
    var lines = [JSON.stringify(chars[i]) + "  text " + textOf[i] + ", character " + posOf[i]];
    var meta = data.units[state.unit];
    lines.push(meta.name + " = " + (acts[state.unit][i] / 127 * meta.scale).toPrecision(3));
    var strongest = data.units.map(function (u, k) { return [Math.abs(acts[k][i]), k]; })
      .sort(function (p, q) { return q[0] - p[0]; }).slice(0, 4);
    lines.push("strongest: " + strongest.map(function (p) {
      var u = data.units[p[1]];
      return u.name + " " + (acts[p[1]][i] / 127 * u.scale).toPrecision(2);
    }).join(", "));
    var labels = [];
    data.features.forEach(function (f, k) {
      var x = value(k, i);
      if (!isNaN(x) && x !== 0) { labels.push(f.name + "=" + +x.toPrecision(3)); }
    });
    lines.push("labels: " + (labels.length ? labels.join(", ") : "none"));
    tip.textContent = lines.join("\n");
    tip.style.display = "block";
    tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - 320) + "px";
    tip.style.top = (ev.clientY + 16) + "px";
  });
  box.addEventListener("mouseleave", function () { tip.style.display = "none"; });
  if (state.feature >= 0) { select.value = String(state.feature); }
  shade();
})();
