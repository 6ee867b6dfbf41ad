"""`python -m benchmarks` (`make bench`): run every benchmark, one after the other so they
do not compete for the machine's cores; the long ones (scale, soak) with a modest size, as
noted (docs/reliability.md has the full runs)."""

from benchmarks import (
    autoscaling,
    drift,
    localcluster,
    operator_apply,
    realnode,
    rollout,
    scale,
    serving,
    soak,
)

for title, run in (
    ("local control plane: start time and idle memory", localcluster.main),
    ("operator: ModelDeployments vs bare Deployments, API writes", operator_apply.main),
    ("operator at scale: N=100 (full run: --counts 100 500 1000)",
     lambda: scale.main(["--counts", "100"])),
    ("operator soak: 50 models, 8 minutes (full run: 200 models, 15 minutes)",
     lambda: soak.main(["--models", "50", "--minutes", "8", "--period", "60"])),
    ("operator drift repair: a child edited or deleted, until put back", drift.main),
    ("real node: Ferry vs bare Deployments on real pods, node memory, start costs", realnode.main),
    ("rollouts on real pods: Ferry's canary vs Kubernetes' rolling update, rollback", rollout.main),
    ("autoscaling: scale-out and scale-in times, latency while scaling vs fixed", autoscaling.main),
    ("serving: Ferry's handler and front vs stock handler vs in-process ceiling", serving.main),
):  # fmt: skip
    print(f"\n=== {title}", flush=True)
    run()
