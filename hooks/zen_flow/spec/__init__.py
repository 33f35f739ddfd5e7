"""Understanding a spec: cross-field validation, the step graph, and ``when`` conditions."""
