"""The pure engine: ``sync(request, now)`` and everything it is made of. No I/O, no clock,
no globals, no web framework: the server, the simulator and the benchmarks all call it."""
