// The dashboard's pages: each polls the read-only JSON API and redraws what changed.
"use strict";
const evoforge = (() => {
  const refresh = Number(document.body.dataset.refresh) || 2000;
  const get = async (url) => {
    const r = await fetch(url, { cache: "no-store" });
    if (!r.ok) throw new Error((await r.json()).error || r.statusText);
    return r.json();
  };
  const text = (v) => document.createTextNode(v === null || v === undefined ? "" : String(v));
  const num = (v) => (v === null || v === undefined ? "" : Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : +v.toFixed(4));
  const clock = (s) => {
    s = Math.round(s || 0);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(r).padStart(2, "0");
  };
  const row = (cells, onClick) => {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = document.createElement("td");
      td.appendChild(c instanceof Node ? c : text(c));
      tr.appendChild(td);
    }
    if (onClick) { tr.className = "clickable"; tr.addEventListener("click", onClick); }
    return tr;
  };
  const fill = (tbody, rows) => { tbody.replaceChildren(...rows); };
  const every = (fn) => { fn(); setInterval(fn, refresh); };

  // the share of the limit that ends the run first, its name and the time left to it at the run's rates
  const progressText = (r) => Math.round(100 * (r.progress || 0)) + "%" + (r.first_stop ? " of the " + r.first_stop
    + (r.left_seconds !== null && r.left_seconds !== undefined ? ", " + clock(r.left_seconds) + " left" : "") : "");

  // -- the list of runs ---------------------------------------------------------------------------
  function runList() {
    const body = document.querySelector("#runs tbody");
    const ticked = new Set();
    every(async () => {
      const runs = await get("/api/runs");
      fill(body, runs.map((r) => {
        const box = document.createElement("input");
        box.type = "checkbox"; box.checked = ticked.has(r.run);
        box.addEventListener("click", (e) => { e.stopPropagation(); box.checked ? ticked.add(r.run) : ticked.delete(r.run); });
        const status = document.createElement("span");
        status.className = "status-" + String(r.status).split(" ")[0];
        status.textContent = r.status + (r.error ? ": " + r.error : "") + (r.failure ? ": " + r.failure : "");
        const bar = document.createElement("span");
        bar.className = "bar"; bar.title = progressText(r);
        const inner = document.createElement("span"); inner.style.width = (100 * (r.progress || 0)) + "%";
        bar.appendChild(inner);
        const link = document.createElement("a"); link.href = "/run/" + r.run; link.textContent = r.name;
        return row([box, link, status, r.strategy, r.problem, r.seed, num(r.best), num(r.test_score), r.generations,
                    r.evaluations, r.failed, clock(r.wall_seconds), bar]);
      }));
    });
    document.getElementById("compare").addEventListener("click", () => {
      if (ticked.size) location.href = "/compare?runs=" + [...ticked].sort((a, b) => a - b).join(",");
    });
  }

  // -- what a genome looks like (the server's view: evoforge/report/views.py) ------------------------
  function drawView(view) {
    const box = document.getElementById("view");
    box.replaceChildren();
    if (!view) return;
    const heading = document.createElement("h3");
    box.appendChild(heading);
    if (view.kind === "network") {
      heading.textContent = `Network (${view.feed_forward ? "feed-forward" : "recurrent"}, ${view.activation})`;
      const chart = document.createElement("div");
      chart.id = "network"; chart.className = "chart";
      box.appendChild(chart);
      const layers = {};
      for (const n of view.nodes) (layers[n.layer] = layers[n.layer] || []).push(n);
      const pos = {};
      for (const [layer, nodes] of Object.entries(layers))
        nodes.forEach((n, i) => { pos[n.id] = [Number(layer), (i + 1) / (nodes.length + 1)]; });
      const line = (pick, color, dash) => {
        const x = [], y = [], text = [];
        for (const e of view.edges.filter(pick)) {
          x.push(pos[e.src][0], pos[e.dst][0], null); y.push(pos[e.src][1], pos[e.dst][1], null);
          text.push(`${e.src} → ${e.dst}: ${num(e.weight)}`, "", "");
        }
        return { x, y, text, mode: "lines", hoverinfo: "text", line: { color, dash, width: 1.5 }, showlegend: true };
      };
      const roles = { input: "#555", bias: "#999", output: "#2a7a2a", hidden: "#4a7bd0" };
      Plotly.react(chart, [
        { ...line((e) => e.enabled && e.weight >= 0, "#2456a8", "solid"), name: "positive weight" },
        { ...line((e) => e.enabled && e.weight < 0, "#b22", "solid"), name: "negative weight" },
        { ...line((e) => !e.enabled, "#bbb", "dot"), name: "disabled" },
        { x: view.nodes.map((n) => pos[n.id][0]), y: view.nodes.map((n) => pos[n.id][1]), mode: "markers+text",
          text: view.nodes.map((n) => String(n.id)), textposition: "top center", name: "nodes",
          marker: { size: 14, color: view.nodes.map((n) => roles[n.role]) },
          hovertext: view.nodes.map((n) => `${n.role} ${n.id}`), hoverinfo: "text" },
      ], { margin: { t: 10 }, xaxis: { visible: false }, yaxis: { visible: false }, legend: { orientation: "h" } });
    } else if (view.kind === "math") {
      heading.textContent = "Update rule";
      const pre = document.createElement("pre"); pre.id = "math"; pre.textContent = view.text; box.appendChild(pre);
    } else if (view.kind === "steps" || view.kind === "layers") {
      heading.textContent = view.kind === "steps" ? "Pipeline" : "Layers";
      const list = document.createElement("ol"); list.id = view.kind;
      for (const item of view.kind === "steps" ? view.steps : view.layers) {
        const li = document.createElement("li");
        li.textContent = view.kind === "steps"
          ? `${item.slot}: ${item.step} ${JSON.stringify(item.params)}`
          : Object.entries(item).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ");
        list.appendChild(li);
      }
      box.appendChild(list);
      if (view.head) box.appendChild(text("head: " + JSON.stringify(view.head)));
    } else if (view.kind === "tree") {
      heading.textContent = "Architecture tree";
      const pre = document.createElement("pre"); pre.textContent = JSON.stringify(view.tree, null, 1); box.appendChild(pre);
    }
  }

  // -- one run --------------------------------------------------------------------------------------
  function runPage() {
    const run = Number(location.pathname.split("/").pop());
    const layout = (x, y) => ({ margin: { t: 10 }, xaxis: { title: { text: x } }, yaxis: { title: { text: y } }, legend: { orientation: "h" } });
    // best_return: a gym run with a reward_shift searches on its return less the shift a step; the
    // best's own return is drawn beside that fitness
    const names = ["best", "mean", "best_ever", "best_return"];
    const labels = { best_ever: "best ever", best_return: "best's environment return (fitness: return less the shift)" };
    let next = 0, drawn = false, species = {}, paretoDrawn = false;
    const points = { x: [], t: [], y: Object.fromEntries(names.map((n) => [n, []])) };
    const showGenome = async (gid) => {
      const [genome, lineage] = await Promise.all([get(`/api/runs/${run}/genomes/${gid}`), get(`/api/runs/${run}/genomes/${gid}/lineage`)]);
      document.getElementById("genome-section").hidden = false;
      document.getElementById("genome-id").textContent = gid;
      document.getElementById("genome").textContent = JSON.stringify({ ...genome, view: undefined }, null, 1);
      drawView(genome.view);
      fill(document.querySelector("#lineage tbody"), lineage.map((s) => row([s.generation, num(s.fitness), s.genome_id], () => showGenome(s.genome_id))));
    };
    const summary = async () => {
      const r = await get(`/api/runs/${run}`);
      document.getElementById("title").textContent = `${r.name}: ${r.strategy} on ${r.problem}`;
      document.title = "evoforge: " + r.name;
      const keys = ["status", "progress", "seed", "best", "test_score", "generations", "evaluations", "failed", "wall_seconds", "failure"];
      fill(document.querySelector("#summary tbody"), keys.filter((k) => r[k] !== null && r[k] !== undefined)
        .map((k) => row([k, k === "wall_seconds" ? clock(r[k]) : k === "progress" ? progressText(r) : typeof r[k] === "number" ? num(r[k]) : r[k]])));
      fill(document.querySelector("#hall-of-fame tbody"), r.hall_of_fame.map((e) => row([e.rank, num(e.fitness), e.generation, e.genome_id], () => showGenome(e.genome_id))));
      document.getElementById("config").textContent = r.config;
      if (r.pareto && r.pareto.objectives.length >= 2 && !paretoDrawn) {
        const [a, b] = r.pareto.objectives, front = r.pareto.front;
        document.getElementById("pareto-section").hidden = false;
        Plotly.react("pareto", [{ x: front.map((e) => e[a]), y: front.map((e) => e[b]), mode: "markers",
          text: front.map((e) => `${e.genome_id}: fitness ${num(e.fitness)}`), hoverinfo: "text", customdata: front.map((e) => e.genome_id) }],
          layout(a, b));
        document.getElementById("pareto").on("plotly_click", (d) => showGenome(d.points[0].customdata));
        paretoDrawn = true;
      }
      const shown = document.getElementById("figures");
      if (r.figures.length && shown.childElementCount !== r.figures.length) {
        document.getElementById("figures-section").hidden = false;
        shown.replaceChildren(...r.figures.map((name) => {
          const img = document.createElement("img");
          img.src = `/runs/${run}/figures/${encodeURIComponent(name)}`; img.alt = name; img.title = name;
          img.style.maxWidth = "48%"; img.style.margin = "0.3em";
          return img;
        }));
      }
      const f = await get(`/api/runs/${run}/failures`);
      fill(document.querySelector("#failures tbody"), f.map((e) => row([e.generation, e.idx, e.genome_id, e.error, num(e.wall_seconds)])));
    };
    const curve = async () => {
      const stats = await get(`/api/runs/${run}/curve?since=${next}`);
      if (!stats.length && drawn) return;
      for (const s of stats) {
        points.x.push(s.generation); points.t.push(s.wall_seconds);
        for (const n of names) points.y[n].push(s[n] ?? null);
        for (const [id, size] of Object.entries((s.strategy || {}).species || {})) {
          (species[id] = species[id] || { x: [], y: [] }).x.push(s.generation);
          species[id].y.push(size);
        }
        next = s.generation + 1;
      }
      const shown = names.filter((n) => n !== "best_return" || points.y[n].some((v) => v !== null));
      const traces = (x) => shown.map((n) => ({ x, y: points.y[n], name: labels[n] || n, mode: "lines+markers" }));
      // the arrays grow in place: a new datarevision tells Plotly to redraw them
      Plotly.react("by-generation", traces(points.x), { ...layout("generation", "fitness"), datarevision: points.x.length });
      Plotly.react("by-time", traces(points.t), { ...layout("wall time (s)", "fitness"), datarevision: points.x.length });
      const ids = Object.keys(species);
      if (ids.length) {
        document.getElementById("species-section").hidden = false;
        Plotly.react("species", ids.map((id) => ({ x: species[id].x, y: species[id].y, name: "species " + id, stackgroup: "s" })),
          { ...layout("generation", "members"), showlegend: ids.length <= 12, datarevision: points.x.length });
      }
      drawn = true;
      document.body.dataset.points = String(points.x.length);  // read by the browser tests
    };
    // where the search looked: every behaviour (the first two descriptors) in the order evaluated, over
    // the problem's map where it has one (a maze's walls, start and goal), the best so far as a star
    let behaviourNext = 0, world = null, sign = 1, best = null;
    const seen = { x: [], y: [], k: [] };
    const behaviours = async () => {
      const b = await get(`/api/runs/${run}/behaviours?since=${behaviourNext}`);
      if (behaviourNext === 0) { world = b.map; sign = b.direction === "minimize" ? -1 : 1; }
      behaviourNext = b.next;
      if (!b.points.length) return;
      for (const [x, y, f] of b.points) {
        seen.x.push(x); seen.y.push(y); seen.k.push(seen.k.length);
        if (f !== null && (best === null || sign * f > sign * best.f)) best = { x, y, f };
      }
      document.getElementById("behaviours-section").hidden = false;
      const traces = [];
      if (world && world.walls.length) {
        const wx = [], wy = [];
        for (const [x1, y1, x2, y2] of world.walls) { wx.push(x1, x2, null); wy.push(y1, y2, null); }
        traces.push({ x: wx, y: wy, mode: "lines", name: "walls", line: { color: "black", width: 2 }, hoverinfo: "skip" });
      }
      traces.push({ x: seen.x, y: seen.y, type: "scattergl", mode: "markers", name: "behaviours (early dark, late bright)",
                    marker: { size: 4, opacity: 0.6, color: seen.k, colorscale: "Viridis" } });
      for (const [name, [x, y]] of Object.entries(world ? world.points : {}))
        traces.push({ x: [x], y: [y], mode: "markers", name, marker: { size: 12, line: { color: "black", width: 1 } } });
      if (best) traces.push({ x: [best.x], y: [best.y], mode: "markers", name: "best so far", marker: { symbol: "star", size: 16, color: "gold", line: { color: "black", width: 1 } } });
      const shape = { ...layout("descriptor 0", "descriptor 1"), datarevision: seen.x.length };
      if (world && world.bounds) {
        shape.xaxis.range = world.bounds[0]; shape.yaxis.range = world.bounds[1]; shape.yaxis.scaleanchor = "x";
      }
      Plotly.react("behaviours", traces, shape);
      document.body.dataset.behaviours = String(seen.x.length);  // read by the browser tests
    };
    every(async () => { await Promise.all([summary(), curve(), behaviours()]); });
  }

  // -- runs side by side ----------------------------------------------------------------------------
  function comparePage() {
    const runs = (new URLSearchParams(location.search).get("runs") || "").split(",").filter((s) => s !== "").map(Number);
    const layout = (x) => ({ margin: { t: 10 }, xaxis: { title: { text: x } }, yaxis: { title: { text: "best so far" } }, legend: { orientation: "h" } });
    every(async () => {
      const all = await get("/api/runs");
      const curves = await Promise.all(runs.map((k) => get(`/api/runs/${k}/curve`)));
      const label = (k) => { const r = all[k] || {}; return `${r.name} (${r.strategy}, seed ${r.seed})`; };
      const traces = (key) => curves.map((c, i) => ({ x: c.map((s) => s[key]), y: c.map((s) => s.best_ever), name: label(runs[i]), mode: "lines" }));
      Plotly.react("compare-generation", traces("generation"), layout("generation"));
      Plotly.react("compare-time", traces("wall_seconds"), layout("wall time (s)"));
    });
  }

  return { runList, runPage, comparePage };
})();
