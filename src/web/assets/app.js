// millrace dashboard: applies the server's `state` events (SSE) to the page.
// Read-only: it only GETs api/state-like documents and a run's trace.
"use strict";
(function () {
  const body = document.body;
  const main = document.getElementById("workspaces");
  const token = new URLSearchParams(location.search).get("token");
  const withToken = (url) => token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url;
  let updates = 0;
  let last = null;
  const seenStages = [];
  const lastTransitionAt = new Map(); // workspace index -> newest occurred_at seen
  let highlights = []; // {ws, plane, from, to, until}

  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.nav === body.dataset.view) a.classList.add("current");
    a.href = withToken(a.getAttribute("href"));
  }

  const esc = (v) => String(v ?? "none").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const kv = (pairs) => "<dl class=\"kv\">" + pairs.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("") + "</dl>";
  const txt = (v) => esc(v);
  const pill = (v, cls) => `<span class="pill ${cls}">${esc(v)}</span>`;
  const bool = (v, goodWhen) => pill(v ? "true" : "false", v === goodWhen ? "ok" : "warn");
  const targetKey = (next) => next && typeof next === "object" ? (next.kind === "terminal" ? "terminal:" + next.id : next.id) : String(next ?? "");

  function elapsed(since) {
    const t = Date.parse(since);
    if (isNaN(t)) return "?";
    let s = Math.max(0, Math.round((Date.now() - t) / 1000));
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    return (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s";
  }

  function runtimeCard(st) {
    const lockCls = st.runtime_ownership_lock === "active" ? "ok" : st.runtime_ownership_lock === "absent" ? "" : "bad";
    return `<div class="card runtime"><h3>Runtime</h3>` + kv([
      ["runtime mode", txt(st.runtime_mode)],
      ["process running", bool(st.process_running, true)],
      ["ownership lock", pill(st.runtime_ownership_lock, lockCls)],
      ["paused", bool(st.paused, false)],
      ["pause sources", st.pause_sources.length ? st.pause_sources.map((p) => pill(p, "warn")).join(" ") : "none"],
      ["stop requested", bool(st.stop_requested, false)],
      ["execution marker", txt(st.execution_status_marker)],
      ["planning marker", txt(st.planning_status_marker)],
      ["learning marker", txt(st.learning_status_marker)],
    ]) + `</div>`;
  }

  function activeCard(st) {
    const rows = st.active_runs.map((r) => `<tr class="active-run" data-plane="${esc(r.plane)}" data-stage="${esc(r.stage)}">
      <td>${esc(r.plane)}</td><td class="mono stage-name">${esc(r.stage)}</td><td class="mono">${esc(r.work_item_kind)} ${esc(r.work_item_id)}</td>
      <td class="mono" title="${esc(r.run_id)}">${esc((r.run_id || "").slice(0, 16))}</td>
      <td class="elapsed" data-since="${esc(r.record && r.record.active_since)}">${esc(elapsed(r.record && r.record.active_since))}</td></tr>`).join("");
    return `<div class="card active-stages"><h3>Active stages (${st.active_run_count})</h3>` +
      (rows ? `<table><thead><tr><th>plane</th><th>stage</th><th>item</th><th>run</th><th>elapsed</th></tr></thead><tbody>${rows}</tbody></table>` : `<p class="muted">No stage is running.</p>`) + `</div>`;
  }

  function planCard(ws, st) {
    const cur = st.compiled_plan_currentness;
    const cls = cur === "current" ? "ok" : cur === "stale" ? "warn" : "bad";
    const fp = (c) => c ? `${esc(c.mode_id)} · config ${esc(c.config_fingerprint).slice(0, 14)} · assets ${esc(c.assets_fingerprint).slice(0, 14)}` : "none";
    const pairs = [
      ["compiled plan", `<span class="mono">${txt(st.compiled_plan_id)}</span>`],
      ["active mode", txt(st.active_mode_id)],
      ["currentness", pill(cur, cls)],
      ["compile input", fp(st.compile_input)],
      ["persisted input", fp(st.persisted_compile_input)],
    ];
    if (st.compiled_plan_changes.length) pairs.push(["changes", st.compiled_plan_changes.map(esc).join("<br>")]);
    if (st.compile_plan_currentness_error) pairs.push(["error", `<span class="error">${esc(st.compile_plan_currentness_error)}</span>`]);
    if (ws.plan_error) pairs.push(["plan", `<span class="error">${esc(ws.plan_error)}</span>`]);
    return `<div class="card plan"><h3>Compiled plan</h3>` + kv(pairs) + `</div>`;
  }

  function governanceCard(st) {
    return `<div class="card governance"><h3>Usage governance</h3>` + kv([
      ["enabled", bool(st.usage_governance_enabled, true)],
      ["paused", bool(st.usage_governance_paused, false)],
      ["blockers", txt(st.usage_governance_blocker_count)],
      ["auto-resume possible", txt(st.usage_governance_auto_resume_possible)],
      ["next auto-resume", txt(st.usage_governance_next_auto_resume_at)],
      ["subscription", txt(st.usage_governance_subscription_status)],
    ]) + `</div>`;
  }

  function closureCard(st) {
    const pairs = [
      ["root spec", txt(st.closure_target_root_spec_id)],
      ["open", txt(st.closure_target_open)],
      ["blocked by lineage work", txt(st.closure_target_blocked_by_lineage_work)],
      ["deferred root specs", txt(st.planning_root_specs_deferred_by_closure_target)],
      ["latest verdict", `<span class="mono">${txt(st.closure_target_latest_verdict_path)}</span>`],
      ["latest report", `<span class="mono">${txt(st.closure_target_latest_report_path)}</span>`],
      ["failure class", txt(st.current_failure_class)],
      ["troubleshoot attempts", txt(st.troubleshoot_attempt_count)],
      ["mechanic attempts", txt(st.mechanic_attempt_count)],
      ["fix cycles", txt(st.fix_cycle_count)],
      ["consultant calls", txt(st.consultant_invocations)],
    ];
    return `<div class="card closure"><h3>Closure &amp; arbiter</h3>` + kv(pairs) + `</div>`;
  }

  function queuesCard(ws) {
    const kinds = new Map();
    for (const q of ws.queues) {
      if (!kinds.has(q.kind)) kinds.set(q.kind, []);
      kinds.get(q.kind).push(q);
    }
    let html = `<div class="card wide queues"><h3>Queues</h3><div class="grid">`;
    for (const [kind, states] of kinds) {
      html += `<div class="queue-kind" data-kind="${esc(kind)}"><strong>${esc(kind)}</strong>`;
      for (const q of states) {
        const shown = q.items.slice(0, 30).map(esc).join(", ") + (q.count > 30 ? ` … +${q.count - 30}` : "");
        html += `<div class="queue-state" data-state="${esc(q.state)}"><span class="pill">${esc(q.state)}: ${q.count}</span> <span class="items">${shown}</span></div>`;
      }
      html += `</div>`;
    }
    return html + `</div></div>`;
  }

  function runsCard(ws) {
    const rows = ws.recent_runs.map((r) => {
      const cls = r.active ? "warn" : r.last_result && /BLOCKED|FAIL/.test(r.last_result) ? "bad" : r.status === "valid" ? "ok" : "";
      const ended = r.active ? "running" + (r.current_stage ? ": " + r.current_stage : "") : (r.last_result || r.status);
      return `<tr data-run="${esc(r.run_id)}"><td><button class="link trace-link" data-ws="${ws.index}" data-run="${esc(r.run_id)}">${esc(r.run_id.slice(0, 16))}</button></td>
        <td class="mono">${esc(r.work_item_kind)} ${esc(r.work_item_id)}</td><td>${r.stage_count}</td>
        <td class="mono">${esc(r.last_stage)}</td><td>${pill(ended, cls)}</td><td>${esc(r.failure_class)}</td>
        <td class="mono">${esc(r.started_at)}</td><td class="mono">${r.active ? "–" : esc(r.completed_at)}</td></tr>`;
    }).join("");
    return `<div class="card wide runs"><h3>Recent runs</h3>` + (rows ? `<table><thead><tr><th>run (trace)</th><th>item</th><th>stages</th><th>last stage</th><th>ended</th><th>failure</th><th>started</th><th>completed</th></tr></thead><tbody>${rows}</tbody></table>` : `<p class="muted">No runs yet.</p>`) + `</div>`;
  }

  function flowSection(ws) {
    if (!ws.plan) return `<div class="flow"><p class="error">No graph: ${esc(ws.plan_error)}</p></div>`;
    let html = `<div class="flow"><p class="muted">mode ${esc(ws.plan.mode_id)} · plan <span class="mono">${esc(ws.plan.compiled_plan_id)}</span>${ws.plan.persisted ? "" : " · not compiled yet: drawn from the current sources"}</p>`;
    for (const p of ws.plan.planes) {
      const seen = lastTransitionAt.get(ws.index) || "";
      const trans = ws.transitions.filter((t) => t.plane === p.plane).slice(-8).map((t) =>
        `<li class="${t.occurred_at > seen && seen ? "fresh" : ""}">${esc(t.node_id)} —${esc(t.outcome)}→ ${esc(targetKey(t.next))}${t.source ? ` <span class="muted">(${esc(t.source.file)}:${esc(t.source.line)})</span>` : ""}</li>`).join("");
      html += `<div class="flow-plane" data-plane="${esc(p.plane)}"><h3>${esc(p.plane)} plane · ${esc(p.loop_id)}</h3>${p.svg}` +
        (trans ? `<details open><summary>recent transitions</summary><ol class="transitions">${trans}</ol></details>` : "") + `</div>`;
    }
    return html + `</div>`;
  }

  function workspaceSection(ws) {
    let html = `<section class="workspace" data-ws="${ws.index}" aria-label="workspace ${esc(ws.root)}"><h2>${esc(ws.root)}</h2>`;
    if (ws.error) return html + `<p class="error">Cannot read this workspace: ${esc(ws.error)}</p></section>`;
    const st = ws.status;
    html += `<div class="detail grid">${runtimeCard(st)}${activeCard(st)}${planCard(ws, st)}${governanceCard(st)}${closureCard(st)}${queuesCard(ws)}${runsCard(ws)}</div>`;
    html += flowSection(ws);
    return html + `</section>`;
  }

  function markHighlights() {
    const now = Date.now();
    highlights = highlights.filter((h) => h.until > now);
    for (const h of highlights) {
      const root = main.querySelector(`section[data-ws="${h.ws}"] .flow-plane[data-plane="${CSS.escape(h.plane)}"]`);
      if (!root) continue;
      for (const e of root.querySelectorAll(`g.edge[data-from="${CSS.escape(h.from)}"][data-to="${CSS.escape(h.to)}"]`)) e.classList.add("taken");
      for (const n of root.querySelectorAll(`g.node[data-node="${CSS.escape(h.to)}"], g.terminal[data-terminal="${CSS.escape(h.to.replace(/^terminal:/, ""))}"]`)) n.classList.add("entered");
    }
  }

  function apply(doc) {
    for (const ws of doc.workspaces) {
      const seen = lastTransitionAt.get(ws.index);
      if (seen !== undefined) {
        for (const t of ws.transitions) {
          if (t.occurred_at > seen) highlights.push({ ws: ws.index, plane: t.plane, from: t.node_id, to: targetKey(t.next), until: Date.now() + 4000 });
        }
      }
      for (const r of (ws.status ? ws.status.active_runs : [])) {
        const name = r.stage || "";
        if (name && seenStages[seenStages.length - 1] !== name) seenStages.push(name);
      }
    }
    main.innerHTML = doc.workspaces.map(workspaceSection).join("") || `<p class="empty">No workspace.</p>`;
    for (const ws of doc.workspaces) {
      const newest = ws.transitions.length ? ws.transitions[ws.transitions.length - 1].occurred_at : "";
      const prev = lastTransitionAt.get(ws.index) || "";
      lastTransitionAt.set(ws.index, newest > prev ? newest : prev);
    }
    markHighlights();
    const active = doc.workspaces.flatMap((w) => w.status ? w.status.active_runs.map((r) => r.stage) : []);
    body.dataset.activeStages = active.join(" ");
    body.dataset.stageHistory = seenStages.join(" ");
    document.getElementById("generated").textContent = "state at " + doc.generated_at;
    last = doc;
  }

  main.addEventListener("click", async (ev) => {
    const link = ev.target.closest(".trace-link");
    if (!link) return;
    const dlg = document.getElementById("trace-dialog");
    const out = document.getElementById("trace-body");
    out.innerHTML = `<p class="muted">Loading…</p>`;
    if (dlg.showModal) dlg.showModal();
    try {
      const r = await fetch(withToken(`api/workspaces/${link.dataset.ws}/runs/${encodeURIComponent(link.dataset.run)}`));
      if (!r.ok) throw new Error(await r.text());
      out.innerHTML = renderTrace(await r.json());
    } catch (e) {
      out.innerHTML = `<p class="error">${esc(e.message)}</p>`;
    }
  });

  function renderTrace(t) {
    const nodes = t.nodes || [], edges = t.edges || [];
    const stageOf = (id) => { const n = nodes.find((n) => n.trace_node_id === id); return n ? n.stage : id; };
    let html = kv([["run", `<span class="mono">${esc(t.run_id)}</span>`], ["status", txt(t.status)], ["item", `${esc(t.work_item_kind)} ${esc(t.work_item_id)}`], ["plan", `<span class="mono">${esc(t.compiled_plan_id)}</span>`], ["mode", txt(t.mode_id)]]);
    for (const note of t.notes || []) html += `<p class="muted">${esc(note)}</p>`;
    if (edges.length) {
      html += `<table class="trace"><thead><tr><th>step</th><th>outcome</th><th>to</th><th>why</th><th>.mill rule</th></tr></thead><tbody>` + edges.map((e) => {
        const to = e.target_trace_node_id ? stageOf(e.target_trace_node_id) : e.target_node_id || ("terminal:" + e.terminal_state_id);
        const by = e.decided_by || {};
        const at = by.file ? `${by.file}:${by.line}:${by.column}` : "none";
        return `<tr><td class="mono">${esc(stageOf(e.source_trace_node_id))}</td><td class="mono">${esc(e.outcome)}</td><td class="mono">${esc(to)}</td><td>${esc(e.decision_reason)} ${e.decided_via ? "via " + esc(e.decided_via) : ""}</td><td class="mono mill-source">${esc(at)}</td></tr>`;
      }).join("") + `</tbody></table>`;
    } else {
      html += `<table class="trace"><thead><tr><th>stage</th><th>result</th></tr></thead><tbody>` + nodes.map((n) => `<tr><td class="mono">${esc(n.stage)}</td><td class="mono">${esc(n.terminal_result)}</td></tr>`).join("") + `</tbody></table>`;
    }
    return html;
  }

  setInterval(() => {
    for (const el of main.querySelectorAll("[data-since]")) el.textContent = elapsed(el.dataset.since);
  }, 1000);

  const status = document.getElementById("connection");
  function connect() {
    const es = new EventSource(withToken("events"));
    es.addEventListener("open", () => { body.dataset.connection = "live"; status.textContent = "live"; });
    es.addEventListener("state", (ev) => {
      let doc;
      try { doc = JSON.parse(ev.data); } catch (e) { return; }
      apply(doc);
      updates += 1;
      body.dataset.updates = String(updates);
      document.getElementById("updates").textContent = String(updates);
    });
    es.addEventListener("error", () => { body.dataset.connection = "lost"; status.textContent = "reconnecting…"; });
  }
  connect();
})();
