"""Reading a finished run back from ML Metadata (the local SQLite store)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

Execution = metadata_store_pb2.Execution
Artifact = metadata_store_pb2.Artifact


@dataclass
class NodeRecord:
    """The latest execution of one pipeline node and the artifacts it produced."""

    node_id: str
    state: str
    outputs: dict[str, list[Artifact]] = field(default_factory=dict)

    def output(self, key: str) -> Artifact | None:
        artifacts = self.outputs.get(key) or []
        return artifacts[0] if artifacts else None


def open_store(metadata_path: str) -> metadata_store.MetadataStore:
    """A read-write connection to the SQLite ML Metadata store at `metadata_path`."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE
    return metadata_store.MetadataStore(config)


def latest_node_record(
    store: metadata_store.MetadataStore, pipeline_name: str, node_id: str
) -> NodeRecord | None:
    """The newest execution of `node_id` with its output artifacts, or None if it never ran."""
    context = store.get_context_by_type_and_name("node", f"{pipeline_name}.{node_id}")
    if context is None:
        return None
    executions = store.get_executions_by_context(context.id)
    if not executions:
        return None
    execution = max(executions, key=lambda e: e.id)
    state = Execution.State.Name(execution.last_known_state)
    outputs: dict[str, list[Artifact]] = {}
    events = store.get_events_by_execution_ids([execution.id])
    output_events = [
        e for e in events if e.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
    ]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in output_events])}
    for event in output_events:
        key = event.path.steps[0].key if event.path.steps else ""
        outputs.setdefault(key, []).append(artifacts[event.artifact_id])
    return NodeRecord(node_id=node_id, state=state, outputs=outputs)


def artifact_property(artifact: Artifact, name: str, default=None):
    """A property's value, looked up among the type's properties first, then custom ones."""
    if name in artifact.properties:
        value = artifact.properties[name]
        kind = value.WhichOneof("value")
        return getattr(value, kind) if kind else default
    return custom_property(artifact, name, default)


def custom_property(artifact: Artifact, name: str, default=None):
    """A custom property's value, whatever its MLMD value type."""
    if name not in artifact.custom_properties:
        return default
    value = artifact.custom_properties[name]
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else default


ABANDONED_PROPERTY = "clickpipe_abandoned"
_UNFINISHED = (Execution.NEW, Execution.RUNNING)


def abandon_unfinished(store: metadata_store.MetadataStore, pipeline_name: str) -> list[str]:
    """Marks every execution of the pipeline left NEW or RUNNING as CANCELED, abandoned.

    Call only while no run of the pipeline is alive (the local runner holds the home's lock):
    an unfinished execution then belongs to a run that was killed (`kill -9`, a lost machine)
    and will never finish; left RUNNING it would look like work in progress forever.

    Returns:
        The node ids of the executions marked, in id order (one per execution).
    """
    marked = []
    prefix = f"{pipeline_name}."
    for context in store.get_contexts_by_type("node"):
        if not context.name.startswith(prefix):
            continue
        for execution in store.get_executions_by_context(context.id):
            if execution.last_known_state not in _UNFINISHED:
                continue
            execution.last_known_state = Execution.CANCELED
            execution.custom_properties[ABANDONED_PROPERTY].string_value = (
                "its run ended without finishing it (the process was killed); marked by the next run"
            )
            store.put_executions([execution])
            marked.append((execution.id, context.name.removeprefix(prefix)))
    return [node_id for _, node_id in sorted(marked)]
