"""`cnnlens`: submit, list, watch, download and compare runs through the HTTP API.

Exit codes: 0 success; 1 the run failed or was cancelled, or the server refused the request
(unknown run, unreachable server); 2 invalid input (bad arguments, or a config the server
rejected with per-field messages, which are printed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from shared.client import DEFAULT_URL, STATUSES, ApiError, CnnLensClient

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
BAR_WIDTH = 24
# Config fields that get their own option on `submit`; anything else goes through --config/--set.
SUBMIT_OPTIONS: dict[str, type] = {
    "name": str,
    "dataset": str,
    "epochs": int,
    "batch_size": int,
    "learning_rate": float,
    "optimizer": str,
    "validation_split": float,
    "seed": int,
    "train_limit": int,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnlens", description="Submit, follow and compare CNN Lens runs over its HTTP API."
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("CNNLENS_URL", DEFAULT_URL),
        help="dashboard address (env CNNLENS_URL; default %(default)s)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    sub = parser.add_subparsers(dest="command", required=True)

    submit = sub.add_parser("submit", help="queue a training run")
    submit.add_argument("--config", type=Path, help="a JSON run config; options below override it")
    for field, kind in SUBMIT_OPTIONS.items():
        submit.add_argument(f"--{field.replace('_', '-')}", dest=field, type=kind)
    submit.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help='any other field, e.g. --set \'layers=[{"type": "flatten"}, ...]\'',
    )
    submit.add_argument("--watch", action="store_true", help="then follow it until it ends")
    submit.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="the same KEY again (within 24 h) answers the run it first made instead of queueing "
        "another; without it each submit gets a new key, kept across its own retries",
    )

    lst = sub.add_parser("list", help="runs, newest first")
    lst.add_argument("--status", choices=STATUSES)
    lst.add_argument("--dataset")
    lst.add_argument("--name", help="part of the run name, any case")
    lst.add_argument("--limit", type=int)
    lst.add_argument("--json", action="store_true", help="print the API's JSON")

    watch = sub.add_parser("watch", help="follow a run's progress until it ends")
    watch.add_argument("run_id")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between polls")

    download = sub.add_parser("download", help="save one artifact of a run")
    download.add_argument("run_id")
    download.add_argument("name", help="e.g. model.keras, metrics.csv, filters.npz")
    download.add_argument("-o", "--output", type=Path, help="file or folder (default: here)")

    compare = sub.add_parser("compare", help="config differences and test accuracy of two runs")
    compare.add_argument("run_a")
    compare.add_argument("run_b")

    for verb in ("cancel", "delete"):
        sub.add_parser(verb, help=f"{verb} a run").add_argument("run_id")

    imported = sub.add_parser(
        "import-model", help="import a .keras model trained elsewhere as a run, and evaluate it"
    )
    imported.add_argument("file", type=Path, help="what model.save('model.keras') wrote")
    imported.add_argument("--dataset", required=True, help="the dataset it was trained for")
    imported.add_argument("--name", help="the run's name (default: the model's own)")
    imported.add_argument("--watch", action="store_true", help="then follow its evaluation")

    datasets = sub.add_parser("datasets", help="the built-in and imported datasets")
    datasets.add_argument("--json", action="store_true", help="print the API's JSON")
    imp = sub.add_parser(
        "import-dataset", help="import a .npz or a .zip of class folders as a dataset"
    )
    imp.add_argument("file", type=Path)
    imp.add_argument("--name", required=True, help="the dataset's name")
    imp.add_argument(
        "--test-fraction",
        type=float,
        help="a zip of class folders without train/ and test/: the share kept for testing "
        "(default 0.2)",
    )
    imp.add_argument("--watch", action="store_true", help="then follow the import until it ends")
    show = sub.add_parser("dataset", help="one dataset: shape, classes, counts, status")
    show.add_argument("dataset_id")
    sub.add_parser("delete-dataset", help="delete an imported dataset no run uses").add_argument(
        "dataset_id"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    user, password = os.environ.get("CNNLENS_AUTH_USER"), os.environ.get("CNNLENS_AUTH_PASSWORD")
    client = CnnLensClient(
        args.url, timeout=args.timeout, auth=(user, password) if user and password else None
    )
    try:
        return COMMANDS[args.command](client, args)
    except ApiError as exc:
        if exc.errors:
            what = {"import-model": "model"}.get(
                args.command, "dataset" if "dataset" in args.command else "run config"
            )
            print(f"error: the server rejected the {what}:", file=sys.stderr)
            for e in exc.errors:
                print(f"  {e.get('field')}: {e.get('message')}", file=sys.stderr)
            return EXIT_USAGE
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_USAGE if exc.status == 422 else EXIT_FAILED
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


class UsageError(Exception):
    pass


# --- commands -------------------------------------------------------------------------------
def cmd_submit(client: CnnLensClient, args: argparse.Namespace) -> int:
    run = client.submit(submit_config(args), idempotency_key=args.idempotency_key)
    print(f"{run['id']}  {run['status']}  {run.get('name', '')}")
    if run.get("replayed"):
        print("note: queued earlier by a submit with this idempotency key", file=sys.stderr)
    if run.get("warning"):
        print(f"warning: {run['warning']}", file=sys.stderr)
    return follow(client, run["id"]) if args.watch else EXIT_OK


def submit_config(args: argparse.Namespace) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if args.config:
        try:
            config = json.loads(args.config.read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read {args.config}: {exc}") from None
        if not isinstance(config, dict):
            raise UsageError(f"{args.config} must hold a JSON object")
    config |= {f: getattr(args, f) for f in SUBMIT_OPTIONS if getattr(args, f) is not None}
    for item in args.set:
        field, sep, raw = item.partition("=")
        if not sep or not field:
            raise UsageError(f"--set wants FIELD=JSON, got {item!r}")
        try:
            config[field] = json.loads(raw)
        except ValueError:
            config[field] = raw  # a bare word such as --set optimizer=sgd
    return config


def cmd_list(client: CnnLensClient, args: argparse.Namespace) -> int:
    runs = client.list(status=args.status, dataset=args.dataset, name=args.name, limit=args.limit)
    if args.json:
        print(json.dumps({"runs": runs}, indent=2))
        return EXIT_OK
    if not runs:
        print("no runs")
        return EXIT_OK
    print(f"{'ID':32}  {'STATUS':11}  {'EPOCH':>7}  {'TEST ACC':>8}  {'DATASET':13}  NAME")
    for run in runs:
        progress, test = run.get("progress") or {}, run.get("test") or {}
        epoch = f"{progress.get('epoch', 0)}/{progress.get('epochs', 0)}"
        print(
            f"{run['id']:32}  {run['status']:11}  {epoch:>7}  {_num(test.get('accuracy')):>8}  "
            f"{run.get('dataset', ''):13}  {run.get('name', '')}"
        )
    return EXIT_OK


def cmd_watch(client: CnnLensClient, args: argparse.Namespace) -> int:
    return follow(client, args.run_id, args.interval)


def follow(
    client: CnnLensClient, run_id: str, interval: float = 1.0, out: TextIO | None = None
) -> int:
    """Show progress until the run ends; 0 when it succeeded, 1 otherwise."""
    out = out or sys.stdout
    live = out.isatty()
    shown: dict[str, Any] = {"line": "", "milestone": None}

    def show(run: dict[str, Any]) -> None:
        line = progress_line(run)
        # A terminal gets one line redrawn in place; a log or pipe gets a line per epoch or
        # state change instead of one per poll.
        milestone = ((run.get("progress") or {}).get("epoch"), run["status"])
        if live:
            out.write("\r" + line.ljust(len(shown["line"])))
        elif milestone != shown["milestone"]:
            out.write(line + "\n")
        out.flush()
        shown.update(line=line, milestone=milestone)

    run = client.wait(run_id, on_progress=show, interval=interval)
    if live:
        out.write("\n")
    test = run.get("test") or {}
    if run["status"] == "succeeded":
        out.write(
            f"succeeded: test accuracy {_num(test.get('accuracy'))}, "
            f"loss {_num(test.get('loss'))}\n"
        )
        return EXIT_OK
    out.write(f"{run['status']}" + (f": {run['error']}" if run.get("error") else "") + "\n")
    return EXIT_FAILED


def progress_line(run: dict[str, Any]) -> str:
    p = run.get("progress") or {}
    fraction = min(1.0, max(0.0, float(p.get("fraction") or 0.0)))
    filled = round(fraction * BAR_WIDTH)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    parts = [f"[{bar}] {fraction:4.0%}", f"epoch {p.get('epoch', 0)}/{p.get('epochs', 0)}"]
    if p.get("steps"):
        parts.append(f"step {p.get('step', 0)}/{p['steps']}")
    if p.get("loss") is not None:
        parts.append(f"loss {_num(p['loss'])}")
    if p.get("accuracy") is not None:
        parts.append(f"acc {_num(p['accuracy'])}")
    return "  ".join([*parts, run["status"]])


def cmd_import_model(client: CnnLensClient, args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise UsageError(f"{args.file} is not a file")
    run = client.import_model(args.file, args.dataset, args.name)
    print(f"{run['id']}  {run['status']}  {run['architecture']}  (imported: {run['name']})")
    if run.get("warning"):
        print(f"warning: {run['warning']}", file=sys.stderr)
    return follow(client, run["id"]) if args.watch else EXIT_OK


def cmd_download(client: CnnLensClient, args: argparse.Namespace) -> int:
    dest = args.output or Path.cwd()
    path = client.download(args.run_id, args.name, dest)
    print(f"{path}  {path.stat().st_size:,} bytes")
    return EXIT_OK


def cmd_compare(client: CnnLensClient, args: argparse.Namespace) -> int:
    result = client.compare(args.run_a, args.run_b)
    a, b = result["a"], result["b"]
    print(f"A  {a['id']}  {a['status']:9}  {a.get('name', '')}")
    print(f"B  {b['id']}  {b['status']:9}  {b.get('name', '')}")
    diff = [d for d in result["config_diff"] if d[0] != "name"]
    if diff:
        width = max(len(field) for field, _, _ in diff)
        print(f"\n{'config':{width}}  {'A':>14}  {'B':>14}")
        for field, va, vb in diff:
            print(f"{field:{width}}  {_val(va):>14}  {_val(vb):>14}")
    else:
        print("\nsame config (apart from the name)")
    ta, tb = a.get("test") or {}, b.get("test") or {}
    print(f"\ntest accuracy  A {_num(ta.get('accuracy'))}  B {_num(tb.get('accuracy'))}")
    print(f"test loss      A {_num(ta.get('loss'))}  B {_num(tb.get('loss'))}")
    return EXIT_OK


def cmd_cancel(client: CnnLensClient, args: argparse.Namespace) -> int:
    print(f"{args.run_id}  {client.cancel(args.run_id)['status']}")
    return EXIT_OK


def cmd_delete(client: CnnLensClient, args: argparse.Namespace) -> int:
    client.delete(args.run_id)
    print(f"{args.run_id}  deleted")
    return EXIT_OK


def cmd_datasets(client: CnnLensClient, args: argparse.Namespace) -> int:
    rows = client.datasets()
    if args.json:
        print(json.dumps(rows, indent=1))
        return EXIT_OK
    for row in rows:
        print(dataset_line(row))
    return EXIT_OK


def dataset_line(row: dict[str, Any]) -> str:
    shape = "×".join(str(v) for v in row.get("shape") or []) or "—"
    classes = row.get("num_classes") or "—"
    status = row["status"]
    if status == "importing":
        status = f"importing {float(row.get('progress') or 0):.0%}"
    return f"{row['id']:32}  {status:14}  {shape:9}  {classes!s:>3} classes  {row.get('name', '')}"


def cmd_import_dataset(client: CnnLensClient, args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise UsageError(f"{args.file} is not a file")
    row = client.import_dataset(args.file, args.name, args.test_fraction)
    print(dataset_line(row))
    if not args.watch:
        return EXIT_OK
    last = [""]

    def show(current: dict[str, Any]) -> None:
        line = dataset_line(current)
        if line != last[0]:
            print(line, file=sys.stderr)
            last[0] = line

    final = client.wait_dataset(row["id"], on_progress=show)
    if final["status"] != "ready":
        print(f"error: {final.get('error') or 'the import failed'}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_dataset(client: CnnLensClient, args: argparse.Namespace) -> int:
    row = client.dataset(args.dataset_id)
    print(dataset_line(row))
    if row.get("classes"):
        print("classes: " + ", ".join(str(c) for c in row["classes"]))
    counts = row.get("counts") or {}
    if counts:
        print(f"images:  {counts['train']:,} training, {counts['test']:,} test")
    for note in row.get("notes") or []:
        print(f"note:    {note}")
    if row.get("error"):
        print(f"error:   {row['error']}")
    return EXIT_OK


def cmd_delete_dataset(client: CnnLensClient, args: argparse.Namespace) -> int:
    client.delete_dataset(args.dataset_id)
    print(f"{args.dataset_id}  deleted")
    return EXIT_OK


def _num(value: Any) -> str:
    return "—" if value is None else f"{float(value):.4f}"


def _val(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


COMMANDS = {
    "submit": cmd_submit,
    "list": cmd_list,
    "watch": cmd_watch,
    "download": cmd_download,
    "compare": cmd_compare,
    "cancel": cmd_cancel,
    "delete": cmd_delete,
    "import-model": cmd_import_model,
    "datasets": cmd_datasets,
    "import-dataset": cmd_import_dataset,
    "dataset": cmd_dataset,
    "delete-dataset": cmd_delete_dataset,
}

if __name__ == "__main__":
    sys.exit(main())
