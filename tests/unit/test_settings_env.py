"""Operator settings from the environment (unit world: pure)."""

import pytest

from ferry.settings import FerrySettings, SettingsError

pytestmark = pytest.mark.unit


def test_defaults_without_environment() -> None:
    settings = FerrySettings.from_env({})
    assert settings.resync_seconds == 60
    assert settings.pod_labels["app.kubernetes.io/component"] == "operator"


def test_environment_overrides() -> None:
    settings = FerrySettings.from_env(
        {"FERRY_RESYNC_SECONDS": "15", "FERRY_NAMESPACE": "ops", "FERRY_POD_LABELS": "a=b, c=d"}
    )
    assert (settings.resync_seconds, settings.namespace) == (15, "ops")
    assert settings.pod_labels == {"a": "b", "c": "d"}


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(SettingsError, match="FERRY_API_TIMEOUT_SECONDS"):
        FerrySettings.from_env({"FERRY_API_TIMEOUT_SECONDS": "soon"})
