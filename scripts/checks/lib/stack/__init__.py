"""The whole tasklane stack, rendered, checked as one (scripts/checks/25-stack.sh).

Each module holds one kind of cross-object fact; model.py reads the rendered
manifests into one set of objects they all share.
"""
