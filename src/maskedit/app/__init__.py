"""The local web pages: `maskedit app` (click → mask → edit) and `maskedit study` (blind pairs).

Gradio is an optional dependency (``pip install maskedit[app]``); it is imported only inside the
functions that build a page, so the pure logic in `web` and `study` imports without it.
"""
