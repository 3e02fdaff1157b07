"""The evidence certificate (PDF, reportlab) with a QR code (segno) to the verification page."""

from __future__ import annotations

import io
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

_CJK_FONT = "STSong-Light"
_cjk_registered = False


def _font_for(text: str, latin: str) -> str:
    """Helvetica cannot show Chinese: use the Adobe CID font for text outside Latin-1."""
    global _cjk_registered
    if all(ord(ch) < 256 for ch in text):
        return latin
    if not _cjk_registered:
        pdfmetrics.registerFont(UnicodeCIDFont(_CJK_FONT))
        _cjk_registered = True
    return _CJK_FONT


class _Writer:
    def __init__(self, pdf: canvas.Canvas) -> None:
        self.pdf = pdf
        self.width, self.height = A4
        self.left = 18 * mm
        self.right = self.width - 18 * mm
        self.y = self.height - 20 * mm

    def ensure(self, needed: float) -> None:
        if self.y - needed < 18 * mm:
            self.pdf.showPage()
            self.y = self.height - 20 * mm

    def heading(self, text: str) -> None:
        self.ensure(14 * mm)
        self.y -= 4 * mm
        self.pdf.setFont(_font_for(text, "Helvetica-Bold"), 11)
        self.pdf.drawString(self.left, self.y, text)
        self.y -= 1.5 * mm
        self.pdf.setLineWidth(0.4)
        self.pdf.line(self.left, self.y, self.right, self.y)
        self.y -= 4.5 * mm

    def row(self, label: str, value: str, *, mono: bool = False, size: float = 8.5, width: float | None = None) -> None:
        """``label: value`` with the value wrapped to the column (never split inside a short token)."""
        value_x = self.left + 38 * mm
        right = width if width is not None else self.right
        font = _font_for(value, "Courier" if mono else "Helvetica")
        chars_per_line = max(10, int((right - value_x) / pdfmetrics.stringWidth("M" if not mono else "0", font, size) * (1.0 if mono else 1.45)))
        lines: list[str] = []
        for paragraph in (value or "-").split("\n"):
            while len(paragraph) > chars_per_line:
                lines.append(paragraph[:chars_per_line])
                paragraph = paragraph[chars_per_line:]
            lines.append(paragraph)
        self.ensure(len(lines) * (size + 2.5))
        self.pdf.setFont("Helvetica-Bold", 8.5)
        self.pdf.drawString(self.left, self.y, label)
        for line in lines:
            self.pdf.setFont(font, size)
            self.pdf.drawString(value_x, self.y, line)
            self.y -= size + 2.5
        self.y -= 1.2


def render_certificate(view: dict[str, Any], *, record: dict[str, Any], verify_url: str,
                       validator_fingerprint: str, hash_algorithm: str, member: dict[str, Any] | None = None) -> bytes:
    """The certificate of one record (or of one member of a batch) as PDF bytes."""
    import segno

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setTitle(f"Evidence certificate {view['id']}")
    pdf.setAuthor("Jadechain evidence preservation")
    writer = _Writer(pdf)
    core = record["core"]

    qr = segno.make(verify_url, error="m")
    image = io.BytesIO()
    qr.save(image, kind="png", scale=4, border=2)
    image.seek(0)
    qr_size = 34 * mm
    pdf.drawImage(ImageReader(image), writer.right - qr_size, writer.y - qr_size + 6 * mm, qr_size, qr_size)
    pdf.setFont("Helvetica-Bold", 16)
    pdf.drawString(writer.left, writer.y, "Evidence Preservation Certificate")
    writer.y -= 7 * mm
    pdf.setFont("Helvetica", 9)
    pdf.drawString(writer.left, writer.y, "Jadechain consortium blockchain - fingerprints with certified time")
    writer.y -= 5 * mm
    pdf.drawString(writer.left, writer.y, "Scan the code or open the link below to verify this record.")
    qr_bottom = writer.height - 20 * mm - qr_size + 6 * mm
    writer.y = min(writer.y - 4.5 * mm, qr_bottom - 4 * mm)
    pdf.setFont("Courier", 6.5)
    pdf.drawString(writer.left, writer.y, verify_url)
    writer.y -= 10 * mm

    writer.heading("Record")
    writer.row("Record ID", view["id"], mono=True)
    writer.row("Title", view["title"])
    writer.row("Type", view["type"])
    writer.row("Status", view["status"])
    description = core["metadata"].get("description")
    if description:
        writer.row("Description", description)
    if core["kind"] == "batch":
        writer.row("Batch root", core["batch"]["root"], mono=True)
        writer.row("Batch size", f"{core['batch']['size']} files (RFC 6962 Merkle tree, SHA-256)")
    if member is not None:
        writer.heading(f"Batch member #{member['index']}")
        writer.row("File name", member.get("name") or "-")
        writer.row("SHA-256", member["sha256"], mono=True)
        writer.row("SM3", member["sm3"], mono=True)
        writer.row("Inclusion path", f"{len(member['path'])} nodes to the batch root")
    elif core["kind"] == "file":
        if core["metadata"].get("file_name"):
            writer.row("File name", core["metadata"]["file_name"])
        if core.get("size") is not None:
            writer.row("Size", f"{core['size']} bytes")
        for name, label in (("sha256", "SHA-256"), ("sm3", "SM3")):
            writer.row(label, core["digests"].get(name, "(not given)"), mono=True)
    writer.row("Metadata hash", core["metadata_hash"], mono=True)

    writer.heading("Parties and signatures")
    for party in view["parties"]:
        writer.row("Party", f"{party['name']}  ({party['algorithm']})")
        writer.row("Address", party["address"], mono=True, size=8)
        writer.row("Signature", party["signature"] or "NOT SIGNED YET", mono=True, size=6.5)

    since = view["since"]
    writer.heading("On chain")
    writer.row("Block height", str(since["height"]))
    writer.row("Tx hash", since["tx_hash"], mono=True, size=8)
    writer.row("Certified time", f"{since['time_iso']} (UTC, block time certified by the validators)")
    if view["latest"]["version"] > 0:
        writer.row("Last signature", f"block {view['latest']['height']}, tx {view['latest']['tx_hash']}", size=7.5)
    writer.row("Ledger hash", view["ledger_hash"], mono=True, size=8)
    writer.row("Validator set", f"{hash_algorithm} {validator_fingerprint}", mono=True, size=7.5)
    writer.row("Account", view["account"], mono=True, size=8)

    writer.heading("Trusted timestamps (RFC 3161)")
    for token in view["timestamps"]:
        writer.row("TSA", token.get("tsa", token.get("error", "")))
        writer.row("Source", token["source"])
        writer.row("Serial", token.get("serial_hex", ""), mono=True)
        writer.row("genTime", token.get("gen_time", ""))
        writer.row("Imprint", f"{token.get('hash_algorithm', '')} {token.get('imprint', '')}", mono=True, size=7.5)

    writer.heading("How to verify")
    for line in (
        "1. Download the evidence bundle (zip) and run verify_evidence_zip, or",
        f"   jadechain verify proof/record.json --ledger {view['ledger_hash']}",
        "2. openssl ts -verify -data record-core.json -in timestamps/1-network.tsr -CAfile tsa/ca.pem",
        "3. Record ID = SHA-256 of record-core.json; the parties signed these 32 bytes.",
    ):
        writer.ensure(5 * mm)
        pdf.setFont("Helvetica", 8)
        pdf.drawString(writer.left, writer.y, line)
        writer.y -= 4.2 * mm
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
