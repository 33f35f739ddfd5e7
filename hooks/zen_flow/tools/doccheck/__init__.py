"""Checks that what the documentation tells users to run exists in this project.

``commands`` finds the kubectl commands of Markdown shell blocks and of the examples' comments;
``manifests`` renders every kustomization into the objects an install creates; ``checker``
says what in a command names something that those objects, the models (``fields``), kubectl's
resource types (``resources``) and the labels do not define; ``markdown`` finds the relative
links that lead nowhere.
"""
