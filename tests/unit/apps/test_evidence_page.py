"""The verification page's script, run in a real JavaScript engine (Node.js): the file is hashed with
Web Crypto in the page and only its SHA-256 (and the record id) is sent, never the file."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from baas.apps.evidence.page import VERIFY_PAGE

HARNESS = r"""
const elements = {};
function element(id) {
  if (!elements[id]) elements[id] = {id, value: '', innerHTML: '', textContent: '', files: [],
    classList: {add() {}, remove() {}}, listeners: {}, addEventListener(type, fn) { this.listeners[type] = fn; },
    click() {}};
  return elements[id];
}
globalThis.document = {getElementById: element};
globalThis.location = {search: '?member=4'};
const sent = [];
globalThis.fetch = async (url, options) => {
  sent.push({url, options});
  return {ok: true, json: async () => ({on_chain: true, id: 'f'.repeat(64), title: 'T', differs: [], parties: [],
                                        timestamps: [], since: {time_iso: 'now', height: 3, tx_hash: 'x', certified: true}})};
};
PAGE_SCRIPT
(async () => {
  element('record').value = 'RECORD_ID';
  const file = new File([Buffer.from(process.argv[2], 'base64')], 'contract.pdf');
  element('file').files = [file];
  await element('file').listeners.change();
  // Wait for what the page does, not for a fixed time: the digest request sent and its answer shown
  // (on a busy machine hashing and rendering can take far longer than any fixed pause).
  const deadline = Date.now() + 20000;
  const pause = () => new Promise(resolve => setTimeout(resolve, 10));
  while (!sent.some(s => String(s.url).startsWith('verify')) && Date.now() < deadline) await pause();
  while (!element('result').innerHTML.includes('On chain') && Date.now() < deadline) await pause();
  console.log(JSON.stringify({sent, result: element('result').innerHTML, progress: element('progress').textContent}));
})();
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js not installed")
def test_page_hashes_the_file_locally_and_sends_only_the_digest(tmp_path: Path) -> None:
    import base64

    script = VERIFY_PAGE.split("<script>")[1].split("</script>")[0]
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS.replace("PAGE_SCRIPT", script))
    data = b"%PDF-1.7 a contract that stays on the user's machine" * 100
    run = subprocess.run(["node", str(harness), base64.b64encode(data).decode()], capture_output=True, text=True,
                         timeout=30)
    assert run.returncode == 0, run.stderr
    output = json.loads(run.stdout.strip().splitlines()[-1])
    [request] = [s for s in output["sent"] if s["url"].startswith("verify")]
    body = json.loads(request["options"]["body"])
    assert body == {"sha256": hashlib.sha256(data).hexdigest(), "id": "RECORD_ID", "member": 4}
    assert request["options"]["method"] == "POST" and "contract" not in request["options"]["body"]
    assert "On chain" in output["result"] and hashlib.sha256(data).hexdigest() in output["progress"]
