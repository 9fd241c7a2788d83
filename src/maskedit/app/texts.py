"""Words on the pages are text: user strings (instructions, phrases, file names, error messages)
are escaped into HTML and never read as Markdown or HTML, so `<img src=x onerror=...>` or
`![t](http://example.com/x.png)` shows as typed and nothing is fetched."""

from __future__ import annotations

import html
from collections.abc import Iterable


def plain(text: str, cls: str | None = None) -> str:
    """One paragraph of text as HTML (escaped), with an optional class."""
    attr = f' class="{html.escape(cls)}"' if cls else ""
    return f"<p{attr}>{html.escape(text)}</p>"


def paragraphs(texts: Iterable[str], cls: str | None = None) -> str:
    """Several paragraphs of text as HTML (each escaped); "" for none."""
    return "".join(plain(t, cls) for t in texts)


def toast(message: str) -> str:
    """An error or warning for Gradio's toast, which renders HTML: the message escaped."""
    return html.escape(message)


# Close every toast (in the browser): run as an action starts, so old messages do not pile up.
CLEAR_TOASTS = "() => { document.querySelectorAll('.toast-close').forEach((b) => b.click()); }"
