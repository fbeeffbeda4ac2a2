"""`clickpipe gcs emulator` and `clickpipe data upload`."""

from __future__ import annotations

import argparse

from pipeline.cli.common import UserError, command_log, quiet_libraries, stop_requested
from pipeline.config import load_config

EMULATOR_HELP = "Run a GCS-API emulator on 127.0.0.1 in the foreground until Ctrl-C."
UPLOAD_HELP = "Upload a folder (e.g. generated spans) to gs://BUCKET/PREFIX, creating the bucket."


def register(commands, group) -> None:
    """Adds `gcs emulator` and `data upload`."""
    gcs = group("gcs", "Google Cloud Storage helpers: a local emulator.")
    emulator = gcs.add_parser("emulator", help=EMULATOR_HELP, description=EMULATOR_HELP)
    emulator.add_argument("--port", type=int, default=4443, help="port on 127.0.0.1 (default 4443; 0 = any free)")
    emulator.add_argument(
        "--root", default=None, help="folder that keeps the buckets across restarts (default: temporary)"
    )
    emulator.add_argument(
        "--latency-ms", type=float, default=0.0,
        help="hold every request this many milliseconds, as real Cloud Storage's round trips take "
             "(e.g. 30; default 0)")
    emulator.set_defaults(handler=run_emulator)

    data = group("data", "Datasets: generate and upload spans of impressions.")
    upload = data.add_parser("upload", help=UPLOAD_HELP, description=UPLOAD_HELP)
    upload.add_argument("directory", help="local folder, e.g. demo-data")
    upload.add_argument("url", help="destination gs://BUCKET/PREFIX")
    upload.add_argument("--workers", type=int, default=8, help="parallel uploads (default 8)")
    upload.set_defaults(handler=run_upload)


def _quiet():
    # Google's clients print notices on import; they go to the log, like every library's.
    return quiet_libraries(command_log(load_config().pipeline.home, "gcs"))


def run_emulator(args: argparse.Namespace) -> int:
    """Serves until interrupted; prints the STORAGE_EMULATOR_HOST to export."""
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port} is not a port number")
    if not 0 <= args.latency_ms <= 60_000:
        raise UserError(f"--latency-ms must be between 0 and 60000, got {args.latency_ms:g}")
    with _quiet():
        from components.ingest.storage import EMULATOR_ENV
        from pipeline.local.gcs import EmulatorError, emulator

        stop = stop_requested()
        try:
            with emulator(port=args.port, root=args.root, latency=args.latency_ms / 1000) as host:
                held = f", {args.latency_ms:g} ms a request" if args.latency_ms else ""
                print(f"GCS emulator on {host} ({'buckets in ' + args.root if args.root else 'in a temporary folder'}"
                      f"{held})")
                print(f"export {EMULATOR_ENV}={host}", flush=True)
                while not stop.wait(0.5):
                    pass
        except EmulatorError as exc:
            raise UserError(f"cannot start the emulator on port {args.port}: {exc}") from None
    print("GCS emulator stopped", flush=True)
    return 0


def run_upload(args: argparse.Namespace) -> int:
    """Uploads the folder and prints what was uploaded."""
    with _quiet():
        from components.ingest.storage import StorageError
        from pipeline.local.gcs import upload_dir

        try:
            result = upload_dir(args.directory, args.url, workers=max(1, args.workers))
        except StorageError as exc:
            raise UserError(str(exc)) from None
    created = " (bucket created)" if result.created_bucket else ""
    print(f"uploaded {result.files} files, {result.bytes / 1e6:.1f} MB to {result.url}{created}")
    return 0
