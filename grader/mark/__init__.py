"""The TA's web marking app (issue 21): written items by question, with a rubric.

The page and its API: ``app.py``; the marks: ``store.py`` (what ``report`` merges).
"""
