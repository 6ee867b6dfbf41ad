-- Argo CD health check for serving.ferry.dev/ModelDeployment. Put it under the argocd-cm key
-- resource.customizations.health.serving.ferry.dev_ModelDeployment (docs/operator.md,
-- "GitOps health"). It reads what Ferry writes for GitOps tools: status.observedGeneration,
-- the Ready and Degraded conditions, kstatus' Reconciling and Stalled, status.rollout.phase.
-- Only Lua's base functions are used: Argo CD opens no other library unless told to.
local hs = {}
local status = obj.status

if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ferry operator to report status"
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ferry operator to observe generation " .. tostring(generation)
    .. " (status describes generation " .. tostring(status.observedGeneration) .. ")"
  return hs
end

local conditions = {}
for _, condition in ipairs(status.conditions or {}) do
  conditions[condition.type] = condition
end
local function is(kind, value)
  return conditions[kind] ~= nil and conditions[kind].status == value
end
local function say(kind)
  local condition = conditions[kind] or {}
  return (condition.reason or kind) .. ": " .. (condition.message or "")
end

if is("Stalled", "True") then
  -- Rolled back, aborted, past the progress deadline, or a first revision that cannot serve:
  -- nothing changes until the spec does.
  hs.status = "Degraded"
  hs.message = say("Stalled")
elseif is("Ready", "False") and is("Degraded", "True") then
  hs.status = "Degraded"
  hs.message = say("Ready")
elseif status.rollout ~= nil and status.rollout.phase == "Paused" then
  -- A pause step without a duration, or the pause annotation: waits for a promote.
  hs.status = "Suspended"
  hs.message = say("Reconciling")
elseif is("Reconciling", "True") then
  hs.status = "Progressing"
  hs.message = say("Reconciling")
elseif conditions.Ready ~= nil and conditions.Ready.reason == "ScaledToZero" then
  -- Converged on zero replicas (kubectl scale, KEDA): nothing serves until a scale-up.
  hs.status = "Suspended"
  hs.message = say("Ready")
elseif is("Ready", "True") then
  hs.status = "Healthy"
  hs.message = conditions.Ready.message
elseif conditions.Ready ~= nil then
  hs.status = "Progressing"
  hs.message = say("Ready")
else
  hs.status = "Progressing"
  hs.message = "Waiting for the Ferry operator to report the Ready condition"
end
return hs
