"""The monthly report as people read it: its words, charts (matplotlib, imported only when a
chart is drawn), the CSV export and the PDF. The figures themselves are
`server.alarms.reports.monthly`'s."""
