"""`python -m benchmarks` (`make bench`): run every benchmark with its defaults, one after
the other so they do not compete for the machine's cores."""

from benchmarks import autoscaling, localcluster, operator_apply, realnode, rollout, serving

for title, run in (
    ("local control plane: start time and idle memory", localcluster.main),
    ("operator: ModelDeployments vs bare Deployments, API writes", operator_apply.main),
    ("real node: Ferry vs bare Deployments on real pods, node memory, start costs", realnode.main),
    ("rollouts on real pods: Ferry's canary vs Kubernetes' rolling update, rollback", rollout.main),
    ("autoscaling: scale-out and scale-in times, latency while scaling vs fixed", autoscaling.main),
    ("serving: Ferry's handler and front vs stock handler vs in-process ceiling", serving.main),
):
    print(f"\n=== {title}", flush=True)
    run()
