"""Renderers: results.json -> index.html (and later checklist.md, junit.xml). Formatting lives here only."""
