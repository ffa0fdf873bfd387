/// The page of `--report` around its data: inline CSS and script, nothing
/// fetched (the Content-Security-Policy forbids any load), so the file can be
/// mailed or archived and still open. `HTMLReport` puts the escaped title
/// between `head` and `body`, and the data between `body` and `tail`.
///
/// The script reads the data with JSON.parse and adds it to the page with
/// `textContent` and `setAttribute` only, never as markup. It draws the
/// process graph (a tree laid out left to right: fork edges solid, requests
/// to daemons dashed, each daemon labelled with its socket), the file buckets with
/// their filters, the endpoints, and the timeline (a bar per process, a mark
/// per event, daemon work in the daemon colour).
enum ReportTemplate {
    static let head = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>
        """

    static let body = """
        </title>
        <style>
        :root { --cmd: #2f6fb3; --cmd-bg: #e5effa; --dmn: #b3541e; --dmn-bg: #fbe9dc; --work: #8a3fb0; --work-bg: #f2e6f8;
                --line: #c9ced6; --muted: #5b6470; --bad: #b00020; --bad-bg: #fde7ea; }
        * { box-sizing: border-box; }
        body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d232b; background: #f6f7f9; }
        header { background: #1d232b; color: #fff; padding: 12px 24px; }
        header h1 { margin: 0; font-size: 20px; }
        header p { margin: 4px 0 0; color: #c7cdd5; }
        main, nav, footer, .lost { margin: 16px 24px; }
        code, .mono, td.path { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
        .lost { background: var(--bad-bg); border: 2px solid var(--bad); color: var(--bad); padding: 10px 14px; font-weight: 600; border-radius: 6px; }
        section.command { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 8px 20px 16px; margin-bottom: 24px; }
        section.command > h2 { font-size: 17px; margin: 10px 0 4px; }
        h3 { font-size: 15px; margin: 18px 0 6px; border-bottom: 1px solid var(--line); padding-bottom: 3px; }
        .facts { color: var(--muted); margin: 0 0 6px; }
        .badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px; font-weight: 600; margin-left: 6px; }
        .badge.ok { background: #e2f4e6; color: #1e7a35; } .badge.fail { background: var(--bad-bg); color: var(--bad); }
        .badge.command { background: var(--cmd-bg); color: var(--cmd); } .badge.daemon { background: var(--dmn-bg); color: var(--dmn); }
        .badge.work { background: var(--work-bg); color: var(--work); }
        .note { color: var(--muted); font-style: italic; margin: 4px 0; }
        .warn { color: var(--bad); font-weight: 600; margin: 4px 0; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eceef1; vertical-align: top; }
        th { background: #f0f2f5; font-weight: 600; }
        td.path { word-break: break-all; }
        .filters { display: flex; flex-wrap: wrap; gap: 4px 14px; align-items: center; margin: 6px 0; }
        .filters label { white-space: nowrap; }
        .filters input[type=search] { min-width: 260px; padding: 3px 6px; }
        .file-scroll { max-height: 30em; overflow-y: auto; border: 1px solid #eceef1; border-radius: 6px; }
        .graph, .timeline { overflow-x: auto; border: 1px solid #eceef1; border-radius: 6px; background: #fcfcfd; }
        svg text { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; fill: #1d232b; }
        svg .node rect { stroke-width: 1.5; rx: 6; }
        svg .node.command rect { fill: var(--cmd-bg); stroke: var(--cmd); }
        svg .node.daemon rect { fill: var(--dmn-bg); stroke: var(--dmn); stroke-width: 2.5; }
        svg .node.work rect { fill: var(--work-bg); stroke: var(--work); stroke-dasharray: 5 3; }
        svg .node.leader rect { stroke-width: 3; }
        svg .node text.kind { font-size: 10px; fill: var(--muted); }
        svg .edge { fill: none; stroke: #8c949e; stroke-width: 1.5; }
        svg .edge.request { stroke: var(--dmn); stroke-dasharray: 6 4; }
        svg .edge.extra { stroke-opacity: .45; }
        svg .bar.command { fill: var(--cmd-bg); stroke: var(--cmd); }
        svg .bar.work { fill: var(--work-bg); stroke: var(--work); }
        svg .lane { fill: var(--dmn-bg); opacity: .5; }
        svg .mark { fill: var(--cmd); }
        svg .mark.daemon { fill: var(--dmn); }
        svg .mark.ambiguous { fill: #d4a000; }
        svg .axis line { stroke: #d5d9df; }
        svg .axis text { fill: var(--muted); font-size: 10px; }
        ul.chains { margin: 4px 0; padding-left: 20px; }
        .legend span { margin-right: 14px; }
        footer { color: var(--muted); font-size: 12px; }
        </style>
        </head>
        <body>
        <header><h1>ebpf-monitor report</h1><p id="meta"></p></header>
        <div id="lost" class="lost" hidden></div>
        <noscript><p class="lost">This report draws its content with its own inline script; allow JavaScript for this file to see it.</p></noscript>
        <nav id="index"></nav>
        <main id="commands"></main>
        <footer id="totals"></footer>
        <script type="application/json" id="report-data">
        """

    static let tail = """
        </script>
        <script>
        "use strict";
        (function () {
        const data = JSON.parse(document.getElementById("report-data").textContent);
        const SVGNS = "http://www.w3.org/2000/svg";
        const GRAPH_NODES = 400, TIMELINE_ROWS = 200;

        function add(parent, child) {
          parent.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
          return child;
        }
        function el(tag, attrs, ...children) {
          const node = document.createElement(tag);
          for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
          for (const child of children) if (child !== null && child !== undefined) add(node, child);
          return node;
        }
        function svg(tag, attrs, ...children) {
          const node = document.createElementNS(SVGNS, tag);
          for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
          for (const child of children) if (child !== null && child !== undefined) add(node, child);
          return node;
        }
        function title(text) { return svg("title", {}, text); }
        function clip(text, length) { return text.length > length ? text.slice(0, length - 1) + "\\u2026" : text; }
        function plural(count, word, many) { return count + " " + (count === 1 ? word : many || word + "s"); }
        function span(micro) {
          if (micro < 1000) return micro + " \\u00b5s";
          if (micro < 1000000) return (micro / 1000).toFixed(micro < 10000 ? 2 : 1) + " ms";
          return (micro / 1000000).toFixed(micro < 10000000 ? 3 : 1) + " s";
        }
        function bytes(count) {
          if (count < 1024) return count + " B";
          if (count < 1048576) return (count / 1024).toFixed(1) + " KiB";
          return (count / 1048576).toFixed(1) + " MiB";
        }
        function failed(status) { return status !== "exit_code=0" && status !== "running"; }

        function commandSection(c) {
          const section = el("section", { class: "command", id: "cmd-" + Number(c.command), "data-command": c.command });
          if (c.pid === undefined) {
            add(section, el("h2", {}, "#" + c.command));
            add(section, el("p", { class: "warn" }, "No summary of this command was received; only its events are shown."));
            add(section, timeline(c, { processes: [], start: null, end: null }));
            return section;
          }
          const heading = add(section, el("h2", {}, "#" + c.command + " ", el("code", {}, c.argv)));
          add(heading, el("span", { class: "badge " + (failed(c.status) ? "fail" : "ok") }, c.status));
          add(section, el("p", { class: "facts" },
            "pid " + c.pid + ", started " + c.start_text + ", ran " + span(c.end - c.start) + "; " +
            plural(c.processes.length, "process", "processes") + ", " + plural(c.threads, "thread") + ", " +
            plural(c.daemons.length, "daemon") + (c.unattributed > 0 ? "; " + c.unattributed + " daemon calls credited to no command meanwhile" : "")));
          if (c.lost_events > 0)
            add(section, el("p", { class: "warn" }, plural(c.lost_events, "event") + " lost while this command ran: what follows may be incomplete."));
          add(section, el("h3", {}, "Processes and daemons"));
          add(section, processGraph(c));
          add(section, processTable(c));
          add(section, el("h3", {}, "Files and directories"));
          add(section, fileSection(c));
          add(section, el("h3", {}, "Network endpoints"));
          add(section, networkTable(c));
          add(section, el("h3", {}, "Timeline"));
          add(section, timeline(c, c));
          return section;
        }

        // The graph: the command's processes, the daemons it reached and the
        // processes daemons made for it. Each node hangs from one parent (its
        // fork parent if shown, else the daemon that made it or the previous hop
        // of its request chain); other links are drawn as extra edges.
        function graphModel(c) {
          const nodes = new Map();
          const node = (pid, comm, kind) => {
            if (!nodes.has(pid)) nodes.set(pid, { pid, comm, kind, argv: "", status: "", children: [], parent: null, via: "" });
            return nodes.get(pid);
          };
          for (const p of c.processes) Object.assign(node(p.pid, p.comm, p.scope === "daemon" ? "work" : "command"), { argv: p.argv, status: p.status });
          for (const d of c.daemons) {
            const n = node(d.pid, d.comm, "daemon");
            n.kind = "daemon";
            n.via = d.address;
            for (const hop of d.chain) node(hop, "pid " + hop, "daemon");
          }
          const edges = [];
          const isAncestor = (a, b) => { for (let n = nodes.get(b); n; n = n.parent === null ? null : nodes.get(n.parent)) if (n.pid === a) return true; return false; };
          const link = (from, to, kind, label) => {
            if (from === to || !nodes.has(from) || !nodes.has(to)) return;
            const child = nodes.get(to);
            if (child.parent === null && !isAncestor(to, from) && to !== c.pid) {
              child.parent = from;
              nodes.get(from).children.push(to);
              edges.push({ from, to, kind, label, tree: true });
            } else if (!edges.some(e => e.from === from && e.to === to)) {
              edges.push({ from, to, kind, label, tree: false });
            }
          };
          for (const p of c.processes) link(p.ppid, p.pid, "fork", "");
          // The daemon that made a process: its place when no fork parent is shown (the shim, which daemonized).
          for (const p of c.processes) if (p.daemon_pid !== undefined && nodes.get(p.pid).parent === null) link(p.daemon_pid, p.pid, "fork", "");
          for (const d of c.daemons) if (d.chain.length > 1) link(d.chain[d.chain.length - 2], d.pid, "request", d.address);
          return { nodes, edges };
        }

        function processGraph(c) {
          const { nodes, edges } = graphModel(c);
          const wrap = el("div", {});
          const roots = [...nodes.values()].filter(n => n.parent === null)
            .sort((a, b) => (b.pid === c.pid) - (a.pid === c.pid) || a.pid - b.pid);
          const placed = new Map();
          let row = 0;
          const W = 180, H = 40, COL = 225, ROW = 52;
          function place(n, depth) {
            if (placed.size >= GRAPH_NODES) return null;
            const spot = { x: 10 + depth * COL, y: 0 };
            placed.set(n.pid, spot);
            const ys = [];
            for (const pid of n.children) { const child = place(nodes.get(pid), depth + 1); if (child) ys.push(child.y); }
            spot.y = ys.length ? (ys[0] + ys[ys.length - 1]) / 2 : 10 + (row++) * ROW;
            return spot;
          }
          for (const r of roots) place(r, 0);
          let width = 0, height = 0;
          for (const s of placed.values()) { width = Math.max(width, s.x + W + 20); height = Math.max(height, s.y + H + 14); }
          const picture = svg("svg", { width, height, viewBox: "0 0 " + width + " " + height, class: "process-graph", role: "img" });
          add(picture, svg("defs", {}, svg("marker", { id: "arrow-" + c.command, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
            svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#8c949e" }))));
          for (const e of edges) {
            const a = placed.get(e.from), b = placed.get(e.to);
            if (!a || !b) continue;
            const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
            const bend = Math.max(30, Math.abs(x2 - x1) / 2);
            const path = svg("path", { class: "edge " + e.kind + (e.tree ? "" : " extra"), d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`, "marker-end": "url(#arrow-" + c.command + ")" },
              title(e.kind === "request" ? "request via " + e.label : "fork"));
            add(picture, path);
          }
          for (const [pid, s] of placed) {
            const n = nodes.get(pid);
            const kind = n.kind === "daemon" ? "daemon" : n.kind === "work" ? "daemon work" : "command";
            const group = svg("g", { class: "node " + n.kind + (pid === c.pid ? " leader" : ""), "data-pid": pid, "data-comm": n.comm, transform: `translate(${s.x},${s.y})` },
              title(n.comm + " (" + pid + ") \\u2014 " + kind + (n.argv ? "\\n" + n.argv : "") + (n.status ? "\\n" + n.status : "") + (n.via ? "\\nvia " + n.via : "")),
              svg("rect", { width: W, height: H, rx: 6 }),
              svg("text", { x: 8, y: 16 }, clip(n.comm, 16) + " (" + pid + ")"),
              svg("text", { x: 8, y: 31, class: "kind" }, n.via ? clip("daemon via " + n.via, 32) : kind + (n.status && n.status !== "exit_code=0" ? " \\u00b7 " + clip(n.status, 18) : "")));
            add(picture, group);
          }
          add(wrap, el("div", { class: "graph" }, picture));
          add(wrap, el("p", { class: "legend note" },
            el("span", { class: "badge command" }, "command"), "the command's own processes ",
            el("span", { class: "badge daemon" }, "daemon"), "a daemon that served it (dashed edge: the request, via its socket) ",
            el("span", { class: "badge work" }, "daemon work"), "processes a daemon started for it"));
          if (nodes.size > placed.size)
            add(wrap, el("p", { class: "warn" }, "The graph shows " + placed.size + " of " + nodes.size + " processes; all are in the table below."));
          // Chains: each path from the command into daemon work, as text.
          const chains = el("ul", { class: "chains" });
          for (const n of nodes.values()) {
            if (n.children.length > 0 || (n.kind === "command" && n.parent === null)) continue;
            const path = [];
            for (let m = n; m; m = m.parent === null ? null : nodes.get(m.parent)) path.unshift(m);
            if (!path.some(m => m.kind !== "command")) continue;
            add(chains, el("li", { class: "chain mono" }, path.map(m => m.comm + " (" + m.pid + ")").join(" \\u2192 ")));
          }
          if (chains.childNodes.length > 0) { add(wrap, el("p", {}, "Daemon chains:")); add(wrap, chains); }
          return wrap;
        }

        function processTable(c) {
          const details = el("details", {}, el("summary", {}, "All " + plural(c.processes.length, "process", "processes") + " and " + plural(c.daemons.length, "daemon")));
          const table = add(details, el("table", { class: "processes" }, el("tr", {}, el("th", {}, "pid"), el("th", {}, "ppid"), el("th", {}, "scope"), el("th", {}, "command line"), el("th", {}, "end"))));
          for (const p of c.processes)
            add(table, el("tr", { "data-scope": p.scope }, el("td", {}, p.pid), el("td", {}, p.ppid),
              el("td", {}, p.scope === "daemon" ? "daemon work for " + (p.daemon || "?") : "command"), el("td", { class: "path" }, p.argv || p.comm), el("td", {}, p.status)));
          for (const d of c.daemons)
            add(table, el("tr", { "data-scope": "daemon" }, el("td", {}, d.pid), el("td", {}, ""), el("td", {}, "daemon"),
              el("td", { class: "path" }, d.comm + " via " + d.address + " (chain " + d.chain.join(" > ") + ")"), el("td", {}, "")));
          return details;
        }

        const BUCKETS = ["created", "modified", "deleted", "renamed", "read", "loaded", "metadata", "temporary", "ambiguous",
          "dir created", "dir deleted", "dir temporary"];
        // The loader's reads are many and rarely what an operator looks for: shown on request.
        const HIDDEN_BY_DEFAULT = new Set(["loaded"]);

        function fileSection(c) {
          const wrap = el("div", { class: "files" });
          const rows = c.files.rows;
          if (rows.length === 0) { add(wrap, el("p", { class: "note" }, "No file or directory was touched.")); return wrap; }
          const uncertain = new Set(c.files.uncertain);
          const counts = new Map();
          for (const [bucket] of rows) counts.set(bucket, (counts.get(bucket) || 0) + 1);
          const filters = add(wrap, el("div", { class: "filters" }));
          const boxes = new Map();
          for (const bucket of BUCKETS) {
            if (!counts.has(bucket)) continue;
            const box = el("input", { type: "checkbox", "data-bucket": bucket });
            box.checked = !HIDDEN_BY_DEFAULT.has(bucket);
            boxes.set(bucket, box);
            add(filters, el("label", {}, box, " " + bucket + " (" + counts.get(bucket) + ")"));
          }
          const search = add(filters, el("input", { type: "search", placeholder: "filter paths", "aria-label": "filter paths" }));
          const shown = add(filters, el("span", { class: "note" }));
          const table = add(add(wrap, el("div", { class: "file-scroll" })), el("table", { class: "file-table" }, el("tr", {}, el("th", {}, "bucket"), el("th", {}, "path"))));
          const lines = [];
          for (const [bucket, path] of rows) {
            const tr = el("tr", { class: "file", "data-bucket": bucket }, el("td", {}, bucket), el("td", { class: "path" }, path));
            if (uncertain.has(path)) add(tr.lastChild, el("span", { class: "note" }, "  (uncertain: it may have existed before)"));
            lines.push({ tr, bucket, text: path.toLowerCase() });
            add(table, tr);
          }
          function apply() {
            const needle = search.value.toLowerCase();
            let visible = 0;
            for (const line of lines) {
              line.tr.hidden = !(boxes.get(line.bucket).checked && (needle === "" || line.text.includes(needle)));
              if (!line.tr.hidden) visible++;
            }
            shown.textContent = visible + " of " + lines.length + " shown";
          }
          for (const box of boxes.values()) box.addEventListener("change", apply);
          search.addEventListener("input", apply);
          apply();
          return wrap;
        }

        function networkTable(c) {
          if (c.network.length === 0) return el("p", { class: "note" }, "No network endpoint was used.");
          const table = el("table", { class: "network" }, el("tr", {}, ...["family", "local", "remote", "peer", "sent", "received"].map(h => el("th", {}, h))));
          for (const n of c.network)
            add(table, el("tr", { class: "endpoint" }, el("td", {}, n.family + "/" + n.type), el("td", { class: "path" }, n.local),
              el("td", { class: "path" }, n.remote), el("td", {}, n.peer || ""), el("td", {}, bytes(n.sent)), el("td", {}, bytes(n.received))));
          return table;
        }

        // Timeline: a row per process of the command (bar from its start to its
        // end) and per daemon that worked for it (a lane), a mark per event.
        function timeline(c, s) {
          const wrap = el("div", {});
          const items = c.timeline.items;
          let start = s.start, end = s.end;
          for (const item of items) { if (start === null || item.t < start) start = item.t; if (end === null || item.t > end) end = item.t; }
          if (start === null) { add(wrap, el("p", { class: "note" }, "No events.")); return wrap; }
          if (end <= start) end = start + 1000;
          const rows = [], rowOf = new Map();
          for (const p of [...s.processes].sort((a, b) => (a.start ?? start) - (b.start ?? start))) {
            if (rowOf.has(p.pid)) continue;
            rowOf.set(p.pid, rows.length);
            rows.push({ label: p.comm + " (" + p.pid + ")", kind: p.scope === "daemon" ? "work" : "command", from: p.start ?? start, to: p.end ?? end });
          }
          for (const item of items) {
            if (rowOf.has(item.pid)) continue;
            rowOf.set(item.pid, rows.length);
            rows.push({ label: item.comm + " (" + item.pid + ")", kind: item.daemon ? "lane" : "command", from: null, to: null });
          }
          const shownRows = Math.min(rows.length, TIMELINE_ROWS);
          const LEFT = 200, WIDTH = 1000, ROW = 18, TOP = 22;
          const x = t => LEFT + (t - start) / (end - start) * (WIDTH - LEFT - 10);
          const height = TOP + shownRows * ROW + 8;
          const picture = svg("svg", { width: WIDTH, height, viewBox: "0 0 " + WIDTH + " " + height, class: "timeline-chart" });
          const axis = add(picture, svg("g", { class: "axis" }));
          for (let i = 0; i <= 5; i++) {
            const t = start + (end - start) * i / 5;
            add(axis, svg("line", { x1: x(t), x2: x(t), y1: 14, y2: height }));
            add(axis, svg("text", { x: x(t) + (i === 5 ? -2 : 2), y: 11, "text-anchor": i === 5 ? "end" : "start" }, "+" + span(Math.round(t - start))));
          }
          for (let i = 0; i < shownRows; i++) {
            const r = rows[i], y = TOP + i * ROW;
            add(picture, svg("text", { x: 4, y: y + 12 }, clip(r.label, 26), title(r.label)));
            if (r.kind === "lane") add(picture, svg("rect", { class: "lane", x: LEFT, y: y + 2, width: WIDTH - LEFT - 10, height: ROW - 4 }, title(r.label + ": daemon")));
            else add(picture, svg("rect", { class: "bar " + r.kind, x: x(r.from), y: y + 3, width: Math.max(2, x(r.to) - x(r.from)), height: ROW - 6, rx: 3 },
              title(r.label + ": +" + span(r.from - start) + " to +" + span(r.to - start))));
          }
          let unplaced = 0;
          for (const item of items) {
            const i = rowOf.get(item.pid);
            if (i >= shownRows) { unplaced++; continue; }
            const cls = "mark " + (item.daemon ? "daemon" : "command") + (item.ambiguous ? " ambiguous" : "");
            const text = "+" + span(item.t - start) + " " + item.comm + " (" + item.pid + ") " + item.action + " " + item.label +
              (item.daemon ? " [daemon " + item.daemon + " via " + item.via.join(">") + (item.ambiguous ? ", ambiguous" : "") + "]" : "");
            add(picture, svg("rect", { class: cls, "data-action": item.action, x: x(item.t) - 1.5, y: TOP + i * ROW + 1, width: 3, height: ROW - 2 }, title(text)));
          }
          add(wrap, el("div", { class: "timeline" }, picture));
          add(wrap, el("p", { class: "legend note" }, "Bars: processes' lifetimes. Marks: events (hover for details); ",
            el("span", { class: "badge daemon" }, "orange"), "daemon work for this command, ", el("span", { class: "badge command" }, "blue"), "the command's own."));
          if (c.timeline.dropped > 0)
            add(wrap, el("p", { class: "warn timeline-capped" }, "The timeline shows the first " + items.length + " events of this command; " +
              c.timeline.dropped + " later ones were not kept (at most " + data.timeline_cap + " a command). The summaries above are complete."));
          if (c.timeline.dropped_processes > 0)
            add(wrap, el("p", { class: "warn" }, c.timeline.dropped_processes + " processes have no lifetime bar (over the cap)."));
          if (rows.length > shownRows)
            add(wrap, el("p", { class: "warn" }, "The timeline shows " + shownRows + " of " + rows.length + " rows; " + unplaced + " events on the rows left out are not drawn."));
          return wrap;
        }
        // Lost events: said first and loudly, since every section below may be short of them.
        const lostCommands = data.commands.filter(c => c.lost_events > 0);
        if (data.lost.total > 0 || lostCommands.length > 0) {
          const box = document.getElementById("lost");
          const places = Object.entries(data.lost.where).map(([place, count]) => place + " " + count).join(", ");
          box.hidden = false;
          add(box, "\\u26a0 " + plural(data.lost.total, "event") + " lost" + (places ? " (" + places + ")" : "") +
            ": this report may be incomplete.");
          if (lostCommands.length > 0)
            add(box, " Commands affected: " + lostCommands.map(c => "#" + c.command).join(", ") + ".");
        }

        const withSummary = data.commands.filter(c => c.pid !== undefined);
        add(document.getElementById("meta"), "Generated " + data.generated + " \\u2014 " + plural(withSummary.length, "command") +
          (data.status.ready && data.status.ready.fork_probe ? " \\u2014 fork probe " + data.status.ready.fork_probe : ""));
        if (data.commands.length > 1) {
          const nav = document.getElementById("index");
          add(nav, el("strong", {}, "Commands: "));
          for (const c of data.commands) {
            add(nav, el("a", { href: "#cmd-" + Number(c.command) }, "#" + c.command + " " + clip(c.argv || "", 60)));
            add(nav, "  ");
          }
        }
        const main = document.getElementById("commands");
        for (const c of data.commands) add(main, commandSection(c));

        const totals = document.getElementById("totals");
        for (const [message, fields] of Object.entries(data.status)) {
          add(totals, el("div", {}, message + ": " + Object.entries(fields).map(([k, v]) => k + "=" + v).join(" ")));
        }
        })();
        </script>
        </body>
        </html>

        """
}
