"""zen-flow: DAGs of Kubernetes Jobs run by stateless Metacontroller hooks."""

__version__ = "0.1.0"
