"""Text of every script in the PDFs we print (requisition and labels): fonts and shaping.

ReportLab draws a paragraph in one font and lays out characters one by one, left to right, so:

- the fonts are embedded TrueType fonts found on the machine: DejaVu Sans (Latin, Greek,
  Cyrillic, Arabic, Hebrew; Debian ``fonts-dejavu-core``) and, for Chinese, Japanese and Korean
  characters, WenQuanYi Zen Hei (Debian ``fonts-wqy-zenhei``; Noto CJK is CFF-based, which
  ReportLab cannot embed). Runs of CJK characters are wrapped in that font; a machine without it
  prints them as boxes, so production installs the package (docs/deployment.md);
- right-to-left text (Arabic, Hebrew) is shaped into its joined letter forms with
  ``arabic-reshaper`` and put in visual order with ``python-bidi`` (the Unicode bidirectional
  algorithm, UAX #9), one line at a time.

Everything typed by users is escaped before it becomes paragraph markup.
"""

from __future__ import annotations

import os
import re
from functools import cache
from xml.sax.saxutils import escape

import arabic_reshaper
import reportlab
from bidi import get_display
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

_LATIN_FONTS = (  # a font with the letters of every patient's name, else reportlab's own Vera
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    (os.path.join(os.path.dirname(reportlab.__file__), "fonts", "Vera.ttf"),
     os.path.join(os.path.dirname(reportlab.__file__), "fonts", "VeraBd.ttf")),
)
_CJK_FONTS = ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
CJK_FONT = "ReqCJK"

# Han, Hiragana, Katakana, Hangul, CJK symbols and full-width forms.
_CJK_RUN = re.compile(
    "([\u2e80-\u2fdf\u3000-\u30ff\u3100-\u31ff\u3200-\u4dbf\u4e00-\u9fff\ua960-\ua97f"
    "\uac00-\ud7ff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003134f]+)")
_RIGHT_TO_LEFT = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


@cache
def fonts() -> tuple[str, str]:
    """(regular, bold) font names for paragraphs; registers the CJK font too when there is one."""
    for path in _CJK_FONTS:
        if os.path.exists(path):
            pdfmetrics.registerFont(TTFont(CJK_FONT, path, subfontIndex=0))
            break
    for regular, bold in _LATIN_FONTS:
        if os.path.exists(regular) and os.path.exists(bold):
            pdfmetrics.registerFont(TTFont("ReqSans", regular))
            pdfmetrics.registerFont(TTFont("ReqSans-Bold", bold))
            return "ReqSans", "ReqSans-Bold"
    return "Helvetica", "Helvetica-Bold"


def has_cjk_font() -> bool:
    fonts()
    return CJK_FONT in pdfmetrics.getRegisteredFontNames()


def visual_line(line: str) -> str:
    """One line as it is drawn: right-to-left runs shaped and reordered; other text unchanged."""
    if not _RIGHT_TO_LEFT.search(line):
        return line
    return get_display(arabic_reshaper.reshape(line))


def markup(value: str | None) -> str:
    """Paragraph markup for text a user typed ("—" when empty): escaped, shaped, CJK in its font."""
    lines = [visual_line(line) for line in (value or "—").split("\n")]
    text = "<br/>".join(escape(line) for line in lines)
    if has_cjk_font():
        text = _CJK_RUN.sub(lambda m: f'<font name="{CJK_FONT}">{m.group(1)}</font>', text)
    return text
