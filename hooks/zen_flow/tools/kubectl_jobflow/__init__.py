"""``kubectl jobflow``: a kubectl plugin to follow and operate JobFlows.

Installed with the package as the ``kubectl-jobflow`` executable, which kubectl finds on
PATH. It talks to the cluster only through ``kubectl`` (``kubectl.py``), reads flows
tolerantly (``flows.py``), prints them (``render.py``), and its commands (``main.py``)
write nothing but the flow annotations that suspend, resume, terminate, rerun and decide
approvals.
"""
