"""The local web pages: `maskedit app` (click → mask → edit → compare) and `maskedit study`
(blind pairs).

Gradio is an optional dependency (``pip install maskedit[app]``); it is imported only inside the
functions that build a page (`web.build_app`, `study.build_study_app`), so the pure parts import
without it: `events` (what each event of the editing page does) over `clicks`, `canvas`, `inputs`,
`region`, `run`, `results`, `compare` and `texts`; the study's `study_votes` and `study_summary`.
"""
