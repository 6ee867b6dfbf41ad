"""Pure builders: a parsed ModelDeployment (and a revision) in, Kubernetes objects out.

Same input, byte-identical output. Nothing here talks to the API server.
"""
