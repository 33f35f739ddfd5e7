"""A simulated cluster for the real hooks, on a virtual clock.

- ``metacontroller``: the fake Metacontroller: holds the flow and its children as the API
  server would, builds hook requests, applies answers.
- ``store``: the objects it holds, kept as the JSON bytes a request carries.
- ``jobs``: the fake Job controller: Jobs run for a while, then finish.
- ``scenario``: what the user scripts: outcomes, durations, suspend and resume.
- ``timeline``: what happened, as lines to print.
- ``transports``: how a request reaches the hooks: in process, or over HTTP.
- ``run``: the loop that ties them together (``zen-flow simulate``).
"""
