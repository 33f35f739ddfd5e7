"""The JobFlow API: models of spec and status, labels, reasons, and the value formats
(durations, times, child names) they use. Imports nothing else of the package."""
