"""The public verification page: the browser hashes the file (Web Crypto SHA-256) and sends only
the digest, so the file never leaves the user's machine. Reached from the certificate's QR code
(``/evidence/verify?id=<record id>[&member=<n>]``), it shows the record before any file is chosen."""

VERIFY_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Verify evidence - Jadechain</title>
<style>
 body { font-family: system-ui, -apple-system, "PingFang SC", "Microsoft YaHei", sans-serif; max-width: 860px;
        margin: 2rem auto; padding: 0 1rem; color: #1d2430; }
 h1 { font-size: 1.5rem; margin-bottom: .2rem; }
 .muted { color: #5b6472; font-size: .9rem; }
 .card { border: 1px solid #d7dce3; border-radius: 8px; padding: 1rem 1.2rem; margin: 1rem 0; }
 .ok { border-color: #2e8b57; background: #f1faf4; }
 .bad { border-color: #c0392b; background: #fdf2f1; }
 code, .mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .82rem; word-break: break-all; }
 table { border-collapse: collapse; width: 100%; }
 td { padding: .25rem .4rem; vertical-align: top; border-bottom: 1px solid #eef0f3; }
 td:first-child { width: 11rem; font-weight: 600; }
 #drop { border: 2px dashed #9aa5b4; border-radius: 8px; padding: 2rem; text-align: center; cursor: pointer; }
 #drop.over { background: #eef4ff; }
 input[type=text] { width: 100%; padding: .4rem; font-family: ui-monospace, monospace; }
 button { padding: .45rem 1rem; margin-top: .5rem; }
</style>
</head>
<body>
<h1>Verify evidence</h1>
<p class="muted">Your file is hashed (SHA-256) inside this browser; only the digest is sent. The file never leaves
your machine. For a proof that needs no server at all, download the record's evidence bundle and check it offline.</p>

<div class="card">
  <label for="record">Record id (optional: otherwise the file's digest is looked up)</label>
  <input type="text" id="record" placeholder="64 hex characters">
  <div id="drop" tabindex="0">Drop a file here or click to choose one<input type="file" id="file" hidden></div>
  <p class="muted" id="progress"></p>
  <label for="digest">... or paste a SHA-256 / SM3 digest</label>
  <input type="text" id="digest" placeholder="64 hex characters">
  <button id="check">Verify</button>
</div>
<div id="result"></div>

<script>
const params = new URLSearchParams(location.search);
const recordInput = document.getElementById('record');
const digestInput = document.getElementById('digest');
const drop = document.getElementById('drop');
const fileInput = document.getElementById('file');
const result = document.getElementById('result');
const progress = document.getElementById('progress');
if (params.get('id')) recordInput.value = params.get('id');
const member = params.get('member');

function esc(text) {
  return String(text ?? '').replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
}
function hex(buffer) {
  return Array.from(new Uint8Array(buffer)).map(b => b.toString(16).padStart(2, '0')).join('');
}
function row(label, value, mono) {
  return `<tr><td>${esc(label)}</td><td class="${mono ? 'mono' : ''}">${esc(value)}</td></tr>`;
}
function show(report) {
  const ok = report.on_chain;
  let html = `<div class="card ${ok ? 'ok' : 'bad'}"><h2>${ok ? 'On chain: the evidence is preserved'
                                                              : 'Not verified'}</h2>`;
  if (report.message) html += `<p>${esc(report.message)}</p>`;
  if (report.differs && report.differs.length) {
    html += `<p><b>Differs:</b> ${report.differs.map(d => esc(d.toUpperCase()) + ' digest').join(', ')}</p>`;
  }
  if (report.id) {
    html += '<table>' + row('Record id', report.id, true) + row('Title', report.title) + row('Type', report.type)
      + row('Status', report.status)
      + row('Since', report.since ? `${report.since.time_iso} (block ${report.since.height}, certified: ${report.since.certified})` : '')
      + row('Tx hash', report.since ? report.since.tx_hash : '', true);
    for (const party of report.parties || []) {
      html += row('Party', `${party.name} (${party.algorithm}) ${party.signed ? 'signed' : 'NOT signed yet'}`);
    }
    for (const token of report.timestamps || []) {
      html += row('Timestamp', `${token.gen_time} by ${token.tsa} (serial ${token.serial_hex})`);
    }
    if (report.digests) {
      for (const [name, item] of Object.entries(report.digests)) {
        html += row(name.toUpperCase(), (item.expected || '') + (item.given !== undefined ? (item.match ? '  (matches)' : '  (DIFFERS: ' + item.given + ')') : ''), true);
      }
    }
    html += '</table>';
    const q = member !== null && member !== undefined && member !== '' ? `?member=${encodeURIComponent(member)}` : '';
    html += `<p><a href="${encodeURIComponent(report.id)}/certificate.pdf${q}">Certificate (PDF)</a> &middot;
             <a href="${encodeURIComponent(report.id)}/bundle${q}">Evidence bundle (zip, verifiable offline)</a></p>`;
  }
  html += '</div>';
  result.innerHTML = html;
}
async function verify(body) {
  result.innerHTML = '<p class="muted">Checking...</p>';
  if (member !== null && member !== '') body.member = Number(member);
  const response = await fetch('verify?proof=false', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                        body: JSON.stringify(body)});
  const data = await response.json();
  if (!response.ok) { result.innerHTML = `<div class="card bad">${esc(data.code)}: ${esc(data.message)}</div>`; return; }
  show(data);
}
async function hashFile(file) {
  progress.textContent = `Hashing ${file.name} (${file.size} bytes) in your browser...`;
  const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
  progress.textContent = `SHA-256 of ${file.name}: ${hex(digest)}`;
  return hex(digest);
}
async function onFile(file) {
  const sha256 = await hashFile(file);
  const body = {sha256};
  if (recordInput.value.trim()) body.id = recordInput.value.trim();
  await verify(body);
}
drop.addEventListener('click', () => fileInput.click());
drop.addEventListener('dragover', e => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', e => { e.preventDefault(); drop.classList.remove('over'); if (e.dataTransfer.files[0]) onFile(e.dataTransfer.files[0]); });
fileInput.addEventListener('change', () => { if (fileInput.files[0]) onFile(fileInput.files[0]); });
document.getElementById('check').addEventListener('click', () => {
  const body = {};
  if (recordInput.value.trim()) body.id = recordInput.value.trim();
  if (digestInput.value.trim()) body.digest = digestInput.value.trim();
  if (!body.id && !body.digest) { result.innerHTML = '<div class="card bad">Choose a file, or give a digest or a record id.</div>'; return; }
  verify(body);
});
if (recordInput.value) verify({id: recordInput.value.trim()});
</script>
</body>
</html>
"""
