"""The MLflow model registry side of the champion gate (``pipeline.serving.promotion`` decides; this records and moves)."""

from __future__ import annotations

from pipeline.serving.promotion import CHAMPION, Validation, decide


def champion_gate(client, registered_name: str, version: int, validation: Validation) -> dict:
    """Record a version's validation on it (tags) and move the alias ``champion`` to it when it passes the gate.
    Returns the champion's version afterwards, whether it moved, and why."""
    from mlflow.exceptions import MlflowException

    tags = {"validation_score": "" if validation.score is None else repr(validation.score),
            "validation_popularity": repr(validation.popularity), "validation_data": validation.data}
    for key, value in tags.items():
        client.set_model_version_tag(registered_name, str(version), key, value)
    try:
        current = client.get_model_version_by_alias(registered_name, CHAMPION)
        t = current.tags
        champion = Validation(float(t["validation_score"]) if t.get("validation_score") else None,
                              float(t.get("validation_popularity", "nan")), t.get("validation_data", ""))
    except MlflowException:  # no champion yet
        current, champion = None, None
    promoted, why = decide(validation, champion)
    if promoted:
        client.set_registered_model_alias(registered_name, CHAMPION, str(version))
    client.set_model_version_tag(registered_name, str(version), "champion_gate", why)
    return {"champion": version if promoted else (int(current.version) if current else None), "promoted": promoted, "gate": why}
