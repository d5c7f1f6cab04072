"""Reports built from the store: report.json (json_report, its schema in schema.py), the
dashboard report.html (html_report renders the page, html_overview its figures, html_data its
streamed rows and URL table), what to fix first (triage), the Markdown summary
(markdown_report), problems.csv and report.junit.xml (csv_junit); each file written whole or not
at all (atomic)."""
