"""Pure autoscaling decisions over plain data: Kubernetes HPA's algorithm (tolerance,
not-ready and unmeasured pods, stabilization windows, step limits) with its memory kept in
status, GPU-aware scale-ups, and the canary split of a replica total.

`decide.decide` is the entry point; `proposal` documents how pods are counted.
"""
