// The data map's behaviour: filters, colours, axes, the hover panel and the gallery, over the JSON the page embeds.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("hardness-data").textContent);
  const N = D.index.length;
  const plot = document.getElementById("map");
  const $ = (id) => document.getElementById(id);
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                   "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94"];
  const VERDICT_COLOURS = {label_error: "#d62728", outlier: "#9467bd", hard: "#ff7f0e", easy: "#c7c7c7"};
  const params = new URLSearchParams((location.hash || "").slice(1));
  const listed = (key, all, cast) => params.get(key) ? new Set(params.get(key).split(",").map(cast)) : new Set(all);
  const classIds = D.class_names.map((_, c) => c);
  const state = {
    x: params.get("x") in D.columns ? params.get("x") : D.axes.x,
    y: params.get("y") in D.columns ? params.get("y") : D.axes.y,
    color: ["verdict", "hard", "class"].includes(params.get("color")) ? params.get("color") : D.color,
    classes: listed("class", classIds, Number),
    verdicts: listed("verdict", D.verdicts, String),
    pinned: D.index.indexOf(Number(params.get("sample") ?? NaN)),
  };
  let pixels = null;
  if (D.thumbs) {
    const text = atob(D.thumbs.data);
    pixels = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) pixels[i] = text.charCodeAt(i);
  }

  function jittered(column, i) {
    const spread = D.jitter[column] || 0;
    return D.columns[column][i] + (spread ? (((i * 2654435761) % 1000) / 1000 - 0.5) * spread : 0);
  }
  function visible() {
    const shown = [];
    for (let i = 0; i < N; i++) {
      if (state.classes.has(D.label[i]) && state.verdicts.has(D.verdicts[D.verdict[i]])) shown.push(i);
    }
    return shown;
  }
  function group(i) {
    if (state.color === "class") return D.class_names[D.label[i]];
    const verdict = D.verdicts[D.verdict[i]];
    return state.color === "hard" ? (verdict === "easy" ? "easy" : "hard") : verdict;
  }
  function colour(name) {
    if (state.color !== "class") return VERDICT_COLOURS[name] || "#ff7f0e";
    return PALETTE[D.class_names.indexOf(name) % PALETTE.length];
  }
  function traces(shown) {
    const groups = new Map();
    for (const i of shown) {
      const name = group(i);
      if (!groups.has(name)) groups.set(name, []);
      groups.get(name).push(i);
    }
    const order = [...groups.keys()].sort((a, b) => (a === "easy") - (b === "easy"));
    const data = order.reverse().map((name) => points(groups.get(name), `${name} (${groups.get(name).length})`,
                                                       {color: colour(name), size: 5, opacity: 0.75}));
    const stragglers = shown.filter((i) => D.straggler[i]);
    if (stragglers.length) data.push(points(stragglers, `stragglers (${stragglers.length})`,
                                            {color: "#000", size: 8, symbol: "circle-open"}, "overlay"));
    if (state.pinned >= 0) data.push(points([state.pinned], "selected",
                                            {color: "#000", size: 16, symbol: "circle-open", line: {width: 3}}, "overlay"));
    return data;
  }
  function points(rows, name, marker, role) {
    return {type: "scattergl", mode: "markers", name, marker, customdata: rows, hoverinfo: "none", meta: role || "group",
            x: rows.map((i) => jittered(state.x, i)), y: rows.map((i) => jittered(state.y, i))};
  }
  function render() {
    const started = performance.now();
    const shown = visible();
    const layout = {margin: {l: 60, r: 10, t: 10, b: 50}, legend: {orientation: "h", y: -0.12}, uirevision: state.x + state.y,
                    xaxis: {title: {text: D.labels[state.x] || state.x}}, yaxis: {title: {text: D.labels[state.y] || state.y}},
                    hovermode: "closest", dragmode: "zoom"};
    $("count").textContent = shown.length;
    drawGallery();
    remember();
    return Plotly.react(plot, traces(shown), layout, {responsive: true, displaylogo: false}).then(() => {
      plot.dataset.drawn = plot.data.filter((t) => t.meta === "group").reduce((n, t) => n + t.x.length, 0);
      plot.dataset.renderMs = Math.round(performance.now() - started);
    });
  }
  function remember() {
    const all = state.classes.size === classIds.length && state.verdicts.size === D.verdicts.length;
    const hash = new URLSearchParams({x: state.x, y: state.y, color: state.color});
    if (!all) { hash.set("class", [...state.classes].join(",")); hash.set("verdict", [...state.verdicts].join(",")); }
    if (state.pinned >= 0) hash.set("sample", D.index[state.pinned]);
    try { history.replaceState(null, "", "#" + hash.toString()); } catch (error) { /* a sandboxed viewer */ }
  }
  function thumbnail(i, size) {
    const canvas = document.createElement("canvas");
    if (!pixels || D.thumbs.slot[i] < 0) return canvas;
    const [c, h, w] = D.thumbs.shape;
    const scale = Math.max(1, Math.round(size / Math.max(h, w)));
    const start = D.thumbs.slot[i] * c * h * w;
    const image = new ImageData(w, h);
    for (let p = 0; p < h * w; p++) {
      for (let k = 0; k < 3; k++) image.data[4 * p + k] = pixels[start + (c === 3 ? k * h * w : 0) + p];
      image.data[4 * p + 3] = 255;
    }
    const small = document.createElement("canvas");
    small.width = w; small.height = h;
    small.getContext("2d").putImageData(image, 0, 0);
    canvas.width = w * scale; canvas.height = h * scale;
    const context = canvas.getContext("2d");
    context.imageSmoothingEnabled = false;
    context.drawImage(small, 0, 0, canvas.width, canvas.height);
    return canvas;
  }
  function describe(i) {
    const name = (c) => c < 0 ? "none" : `${D.class_names[c]}`;
    const lines = [`sample ${D.index[i]}`, `label: ${name(D.label[i])}`, `suggested: ${name(D.suggested[i])}`,
                   `verdict: ${D.verdicts[D.verdict[i]]}${D.straggler[i] ? " (straggler)" : ""}`];
    for (const column of Object.keys(D.columns).filter((c) => c !== "label")) {
      const value = D.columns[column][i];
      lines.push(`${D.labels[column] || column}: ${value === null ? "n/a" : Number(value).toPrecision(3)}`);
    }
    if (D.features) lines.push(D.features[i]);
    return lines;
  }
  function show(i) {
    const panel = $("sample");
    panel.replaceChildren();
    if (pixels) panel.append(D.thumbs.slot[i] < 0 ? "(no thumbnail: outside the page's budget)" : thumbnail(i, 168));
    const list = document.createElement("ul");
    for (const line of describe(i)) { const item = document.createElement("li"); item.textContent = line; list.append(item); }
    panel.append(list);
  }
  function drawGallery() {
    const box = $("gallery");
    box.replaceChildren();
    for (const [verdict, rows] of Object.entries(D.gallery)) {
      const kept = rows.filter((i) => state.classes.has(D.label[i]) && state.verdicts.has(verdict));
      if (!kept.length) continue;
      const section = document.createElement("section");
      const heading = document.createElement("h3");
      heading.textContent = `${verdict} (top ${kept.length})`;
      section.append(heading);
      for (const i of kept) {
        const tile = document.createElement("button");
        tile.className = "tile";
        tile.title = describe(i).join("\n");
        if (pixels && D.thumbs.slot[i] >= 0) tile.append(thumbnail(i, 56));
        const caption = document.createElement("div");
        const suggested = D.suggested[i] >= 0 ? ` → ${D.class_names[D.suggested[i]]}` : "";
        caption.textContent = `#${D.index[i]} ${D.class_names[D.label[i]]}${suggested}`;
        tile.append(caption);
        tile.addEventListener("click", () => { state.pinned = i; show(i); render(); });
        section.append(tile);
      }
      box.append(section);
    }
  }
  function checkboxes(id, values, names, chosen, cast) {
    const box = $(id);
    values.forEach((value, k) => {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox"; input.checked = chosen.has(value); input.value = value;
      input.addEventListener("change", () => {
        input.checked ? chosen.add(cast(input.value)) : chosen.delete(cast(input.value));
        render();
      });
      label.append(input, " " + names[k]);
      box.append(label);
    });
  }
  function select(id, options, key) {
    const box = $(id);
    for (const [value, text] of options) box.add(new Option(text, value, false, value === state[key]));
    box.addEventListener("change", () => { state[key] = box.value; render(); });
  }
  const axes = Object.keys(D.columns).map((c) => [c, D.labels[c] || c]);
  select("x", axes, "x");
  select("y", axes, "y");
  select("color", [["verdict", "verdict"], ["hard", "hard set"], ["class", "class"]], "color");
  checkboxes("classes", classIds, D.class_names, state.classes, Number);
  checkboxes("verdicts", D.verdicts, D.verdicts, state.verdicts, String);
  if (state.pinned >= 0) show(state.pinned);
  render().then(() => requestAnimationFrame(() => {
    document.body.dataset.loadMs = Math.round(performance.now());
    document.body.dataset.ready = "true";
  }));
  plot.on("plotly_hover", (event) => show(event.points[0].customdata));
  plot.on("plotly_click", (event) => { state.pinned = event.points[0].customdata; show(state.pinned); render(); });
})();
