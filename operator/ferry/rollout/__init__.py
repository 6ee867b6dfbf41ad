"""Progressive delivery, decided purely: steps, user actions, analysis verdicts, replica
plans around GPU capacity, history. `machine.decide_rollout` ties them together."""
