"""The ``zen-flow`` command and what it is made of: lint, diagrams, the simulator."""
