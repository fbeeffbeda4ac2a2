"""Custom TFX components, one folder each."""


def __getattr__(name: str):
    # Kubeflow's TFX entrypoint imports custom artifact types as `components.<Class>`.
    if name == "QuarantinedRows":
        from components.ingest.component import QuarantinedRows

        return QuarantinedRows
    raise AttributeError(f"module 'components' has no attribute {name!r}")
