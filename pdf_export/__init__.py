"""The students' PDF route: ``python -m pdf_export [--web] [--out DIR] [NOTEBOOK]``.

Makes NAME.pdf of a saved notebook with nbconvert (LaTeX, or Chromium with ``--web``) and packs
it with the notebook for Canvas (``submission/`` and ``submission.zip``); the notebook itself is
never changed. ``export_pdf.sh`` is the students' one command for it. The notebook transforms
(title, the TA's index, widgets, long outputs, LaTeX-safe text) are nbconvert preprocessors in
``preprocessors.py``; the templates are under ``templates/``. Only the standard library is
imported before the tools are checked, so ``--help`` and a missing tool answer quickly.
"""
