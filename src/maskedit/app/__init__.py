"""The local web pages: `maskedit app` (click → mask → edit) and `maskedit study` (blind pairs).

Gradio is an optional dependency (``pip install maskedit[app]``); it is imported only inside the
functions that build a page (`web.build_app`, `study.build_study_app`), so the pure parts
(`clicks`, `canvas`, `inputs`, `region`, `run`, `results`, and `study`'s tallies) import without it.
"""
