// The dashboard's single page: plain HTML, CSS and JavaScript, no build step.
// It polls the JSON API once a second, so it updates without reloading.
#ifndef ANIFARM_COORDINATOR_DASHBOARD_PAGE_H_
#define ANIFARM_COORDINATOR_DASHBOARD_PAGE_H_

namespace anifarm {

inline constexpr char kDashboardPage[] = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>AniFarm</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { --bg:#14161c; --panel:#1d2029; --text:#e6e6ea; --dim:#9097a8; --accent:#ff7eb6;
          --done:#3ddc97; --run:#ffb454; --queue:#3a3f4f; --fail:#ff5c5c; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, sans-serif; background:var(--bg); color:var(--text); }
  header { padding:14px 24px; display:flex; align-items:baseline; gap:16px; border-bottom:1px solid #2a2e3a; }
  header h1 { margin:0; font-size:20px; color:var(--accent); }
  main { padding:16px 24px; display:grid; gap:16px; grid-template-columns: minmax(0,3fr) minmax(0,2fr); }
  section { background:var(--panel); border-radius:10px; padding:14px 16px; }
  h2 { margin:0 0 10px; font-size:15px; color:var(--dim); font-weight:600; }
  table { width:100%; border-collapse:collapse; }
  td, th { text-align:left; padding:6px 8px; border-bottom:1px solid #2a2e3a; vertical-align:middle; }
  th { color:var(--dim); font-weight:500; }
  tr.job { cursor:pointer; } tr.job:hover, tr.job.selected { background:#262a36; }
  .bar { height:8px; background:var(--queue); border-radius:4px; overflow:hidden; min-width:120px; }
  .bar > div { height:100%; background:var(--accent); transition:width .5s; }
  .state { font-weight:600; } .state.done { color:var(--done); } .state.failed { color:var(--fail); }
  .state.running, .state.assembling, .state.planning { color:var(--run); } .state.cancelled, .state.paused { color:var(--dim); }
  .chunks { display:flex; flex-wrap:wrap; gap:3px; margin:8px 0 12px; }
  .chunk { width:18px; height:18px; border-radius:3px; background:var(--queue); position:relative; }
  .chunk.done { background:var(--done); } .chunk.leased { background:var(--run); }
  .chunk.failed { background:var(--fail); } .chunk.retried { box-shadow:inset 0 0 0 2px var(--fail); }
  .chunk .reuse { position:absolute; left:0; bottom:0; width:100%; background:rgba(20,22,28,.55); }
  .legend span { margin-right:12px; color:var(--dim); } .legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; }
  .compare { position:relative; width:100%; background:#000; border-radius:8px; overflow:hidden; }
  .compare img { display:block; width:100%; image-rendering:auto; }
  .compare .before { position:absolute; inset:0; overflow:hidden; border-right:2px solid var(--accent); }
  .compare .before img { width:auto; height:100%; max-width:none; image-rendering:pixelated; }
  .labels { display:flex; justify-content:space-between; color:var(--dim); font-size:12px; }
  input[type=range] { width:100%; }
  button { background:#2f3442; color:var(--text); border:0; border-radius:6px; padding:5px 10px; cursor:pointer; }
  button:hover { background:#3b4152; }
  .dim { color:var(--dim); } .error { color:var(--fail); }
  @media (max-width: 900px) { main { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<header><h1>AniFarm</h1><span class="dim" id="summary">connecting…</span>
  <form id="login" style="display:none" onsubmit="signIn(event)"><input id="token" type="password" placeholder="access token" autocomplete="current-password"> <button>Sign in</button></form></header>
<main>
  <section>
    <h2>Jobs</h2>
    <table id="jobs"><thead><tr><th>Job</th><th>State</th><th>Progress</th><th>Frames</th><th>Dedup</th><th>ETA</th><th></th></tr></thead><tbody></tbody></table>
  </section>
  <section id="detail">
    <h2>Job detail</h2>
    <div id="detail-body" class="dim">Select a job.</div>
  </section>
  <section>
    <h2>Nodes</h2>
    <table id="nodes"><thead><tr><th>Node</th><th>Host</th><th>Device</th><th>Memory</th><th>Working on</th><th>fps</th><th>Chunks</th><th>Frames</th><th>Last seen</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Before / after</h2>
    <div id="preview" class="dim">The latest upscaled frame of the selected job appears here.</div>
  </section>
</main>
<script>
const state = { selected: null, history: {}, previewFor: null, previewFrame: -1 };
const esc = s => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
const stateName = s => String(s).replace('JOB_', '').toLowerCase();
const num = v => Number(v || 0);
const gib = bytes => bytes > 0 ? (bytes / 2**30).toFixed(1) + ' GiB' : '—';

function rate(job) {
  const now = Date.now() / 1000, h = state.history[job.job_id] || (state.history[job.job_id] = []);
  h.push([now, num(job.frames_upscaled)]);
  while (h.length > 2 && now - h[0][0] > 30) h.shift();
  if (h.length < 2 || h[h.length-1][0] === h[0][0]) return 0;
  return (h[h.length-1][1] - h[0][1]) / (h[h.length-1][0] - h[0][0]);
}

function progress(job) {
  const s = stateName(job.state);
  if (s === 'done') return 1;
  const unique = num(job.unique_frames);
  return unique ? 0.95 * num(job.frames_upscaled) / unique : 0;
}

// The same bearer tokens as the CLI (a coordinator started with --tokens):
// kept in this browser's localStorage, or handed over once as #token=... .
if (location.hash.startsWith('#token=')) {
  localStorage.setItem('anifarm-token', decodeURIComponent(location.hash.slice(7)));
  history.replaceState(null, '', location.pathname);
}
const authHeaders = () => { const t = localStorage.getItem('anifarm-token'); return t ? { Authorization: 'Bearer ' + t } : {}; };
function signIn(ev) {
  ev.preventDefault();
  localStorage.setItem('anifarm-token', document.getElementById('token').value);
  document.getElementById('login').style.display = 'none';
  refresh();
}
async function authFetch(url, options = {}) {
  const r = await fetch(url, { ...options, headers: { ...(options.headers || {}), ...authHeaders() } });
  if (r.status === 401) document.getElementById('login').style.display = '';
  return r;
}
async function getJson(url) { const r = await authFetch(url); if (!r.ok) throw new Error(await r.text()); return r.json(); }

async function jobAction(id, action, ev) {
  ev.stopPropagation();
  const r = await authFetch('/api/jobs/' + id + '/' + action, { method: 'POST' });
  if (!r.ok) document.getElementById('summary').textContent = action + ' refused: ' + await r.text();
  else refresh();
}

// Images cannot carry a header: fetch them, show them from blob URLs.
async function loadImage(img, url) {
  const r = await authFetch(url);
  if (!r.ok) return;
  if (img.src.startsWith('blob:')) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(await r.blob());
}

function actionButtons(id, s) {
  const button = (action, label) => `<button onclick="jobAction('${esc(id)}', '${action}', event)">${label}</button>`;
  if (s === 'failed' || s === 'cancelled') return button('retry', 'Retry');
  if (s === 'done') return '';
  return (s === 'paused' ? button('resume', 'Resume') : s === 'running' ? button('pause', 'Pause') : '') + ' ' + button('cancel', 'Cancel');
}

function renderJobs(jobs) {
  const body = document.querySelector('#jobs tbody');
  body.innerHTML = jobs.map(job => {
    const s = stateName(job.state), fps = rate(job);
    const left = num(job.unique_frames) - num(job.frames_upscaled);
    const eta = (s === 'running' && fps > 0) ? Math.round(left / fps) + ' s' : (s === 'done' ? '—' : '…');
    const total = num(job.total_frames), reused = total - num(job.unique_frames);
    const dedup = total ? Math.round(100 * reused / total) + '% reused' : '';
    const finished = ['done','failed','cancelled'].includes(s);
    return `<tr class="job ${job.job_id === state.selected ? 'selected' : ''}" data-id="${esc(job.job_id)}">
      <td title="${esc(job.input_path)} → ${esc(job.output_path)}">${esc(job.job_id)}<div class="dim">${esc(job.input_path.split('/').pop())}</div></td>
      <td class="state ${s}">${s}</td>
      <td><div class="bar"><div style="width:${Math.round(progress(job)*100)}%"></div></div>
          <div class="dim">${Math.round(progress(job)*100)}% · ${fps ? fps.toFixed(1) + ' fps' : ''}</div></td>
      <td>${num(job.frames_upscaled)}/${num(job.unique_frames)} <span class="dim">of ${total}</span></td>
      <td>${dedup}</td><td>${eta}</td>
      <td>${actionButtons(job.job_id, s)}</td></tr>` +
      (job.error ? `<tr><td colspan="7" class="error">${esc(job.error)}</td></tr>` : '');
  }).join('') || '<tr><td colspan="7" class="dim">No jobs yet. Submit one with <code>anifarm submit</code>.</td></tr>';
  body.querySelectorAll('tr.job').forEach(tr => tr.onclick = () => { state.selected = tr.dataset.id; refresh(); });
}

function renderNodes(nodes) {
  const now = Date.now() / 1000;
  document.querySelector('#nodes tbody').innerHTML = nodes.map(n => `<tr>
    <td>${esc(n.node_id)}</td><td>${esc(n.hostname)}</td><td>${esc(n.device)} <span class="dim">${esc(n.device_name)}</span></td>
    <td>${gib(num((n.memory_usage || {}).in_use_bytes))} <span class="dim">/ ${gib(num(n.memory_bytes))}</span>
      <br><span class="dim">${num((n.memory_usage || {}).models_cached)} models, ${gib(num((n.memory_usage || {}).model_cache_bytes))}${num((n.memory_usage || {}).reserved_bytes) > 0 ? ', reserved ' + gib(num(n.memory_usage.reserved_bytes)) : ''}</span></td>
    <td>${n.current_job_id ? esc(n.current_job_id) + ' #' + num(n.current_chunk_index) : '<span class="dim">idle</span>'}</td>
    <td>${num(n.fps).toFixed(2)}</td>
    <td>${num(n.chunks_done)}</td><td>${num(n.frames_upscaled)}</td><td>${Math.max(0, Math.round(now - num(n.last_seen)))} s ago</td></tr>`).join('')
    || '<tr><td colspan="9" class="dim">No node has registered.</td></tr>';
}

async function renderDetail(job) {
  const el = document.getElementById('detail-body');
  if (!job) { el.innerHTML = '<span class="dim">Select a job.</span>'; return; }
  const chunks = (await getJson('/api/jobs/' + job.job_id + '/chunks')).chunks || [];
  el.innerHTML = `<div><b>${esc(job.job_id)}</b> <span class="dim">${esc(job.settings.model)} · ${esc(job.settings.codec)}</span></div>
    <div class="dim">${esc(job.input_path)} → ${esc(job.output_path)}</div>
    <div class="chunks">${chunks.map(c => {
      let s = c.state.replace('CHUNK_', '').toLowerCase();
      // A queued chunk that already failed waits for a retry: show it failed.
      if (num(c.failures) && s === 'queued') s = 'failed';
      const retried = num(c.failures) && s !== 'failed' ? ' retried' : '';
      const failed = num(c.failures) ? `, ${num(c.failures)} failed attempt(s), last: ${esc(c.last_error)}` : '';
      const reused = c.frame_count ? 100 * (c.frame_count - c.unique_count) / c.frame_count : 0;
      return `<div class="chunk ${s}${retried}" title="chunk ${c.chunk_index}: frames ${c.first_frame}–${num(c.first_frame)+c.frame_count-1}, ${s}, ${c.frame_count - c.unique_count} reused${c.node_id ? ', on ' + esc(c.node_id) : ''}${failed}"><div class="reuse" style="height:${reused}%"></div></div>`;
    }).join('')}</div>
    <div class="legend"><span><i style="background:var(--done)"></i>done</span><span><i style="background:var(--run)"></i>running</span><span><i style="background:var(--queue)"></i>queued</span><span><i style="background:var(--fail)"></i>failed, to retry</span><span><i style="background:rgba(20,22,28,.8);border:1px solid #555"></i>share reused by dedup</span></div>`;
}

async function renderPreview(job) {
  const el = document.getElementById('preview');
  if (!job || num(job.frames_upscaled) === 0) return;
  // Reload the images only when new frames arrived.
  if (state.previewFor === job.job_id && state.previewFrame === num(job.frames_upscaled)) return;
  state.previewFor = job.job_id; state.previewFrame = num(job.frames_upscaled);
  const t = Date.now(), base = '/api/jobs/' + job.job_id + '/preview?t=' + t;
  const pos = (document.getElementById('slider') || {}).value || 50;
  el.innerHTML = `<div class="compare" id="compare">
      <img id="after" alt="upscaled frame">
      <div class="before" id="before" style="width:${pos}%"><img id="before-img" alt="source frame"></div>
    </div>
    <input type="range" id="slider" min="0" max="100" value="${pos}">
    <div class="labels"><span>◀ source</span><span>upscaled ▶</span></div>`;
  const fit = () => { const a = document.getElementById('after'); document.getElementById('before-img').style.height = a.clientHeight + 'px'; };
  document.getElementById('after').onload = fit;
  await Promise.all([loadImage(document.getElementById('after'), base + '&side=after'),
                     loadImage(document.getElementById('before-img'), base + '&side=before')]);
  document.getElementById('slider').oninput = e => document.getElementById('before').style.width = e.target.value + '%';
}

async function refresh() {
  try {
    const [jobs, nodes] = await Promise.all([getJson('/api/jobs'), getJson('/api/nodes')]);
    const list = (jobs.jobs || []).slice().reverse();
    if (!state.selected && list.length) state.selected = list[0].job_id;
    renderJobs(list);
    renderNodes(nodes.nodes || []);
    const job = list.find(j => j.job_id === state.selected);
    await renderDetail(job);
    await renderPreview(job);
    const running = list.filter(j => stateName(j.state) === 'running').length;
    document.getElementById('summary').textContent =
      `${list.length} jobs · ${running} running · ${(nodes.nodes || []).length} nodes · updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    document.getElementById('summary').textContent = 'coordinator unreachable: ' + e.message;
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
)html";

}  // namespace anifarm

#endif  // ANIFARM_COORDINATOR_DASHBOARD_PAGE_H_
