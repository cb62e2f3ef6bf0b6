"""What the commands share: the error translation, the model options, the output options
(``-q``/``-v`` after the subcommand too) and the classify summary."""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from animalsort.errors import AnimalsortError
from animalsort.model.decision import DEVICES, PRECISIONS, RUNTIMES, described
from animalsort.model.device import DECODERS
from animalsort.sources.views import VIEW_MODES
from animalsort.taxonomy import LABEL_SETS

if TYPE_CHECKING:
    from animalsort.formats.thresholds import Thresholds
    from animalsort.inference.options import Summary


class UsageFailure(click.UsageError):
    """An AnimalsortError that is the user's to fix: ``Error: …`` and exit 2, no usage text."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


def translate_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The one place where errors become what the user sees: ``Error: …`` and exit 1 (or 2
    for usage), a quiet exit when the reader of stdout went away, never a traceback for
    something the user can fix."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AnimalsortError as exc:
            if exc.exit_code == 2:
                raise UsageFailure(str(exc)) from None
            raise click.ClickException(str(exc)) from None
        except BrokenPipeError:
            _quiet_broken_pipe()
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except OSError as exc:  # a backstop: the core names the path and the fix where it can
            raise click.ClickException(_describe_os_error(exc)) from None

    return wrapper


def _quiet_broken_pipe() -> None:
    """``animalsort classify DIR | head``: the reader closed the pipe. Like other Unix tools,
    stop without a word (exit 141, as if killed by SIGPIPE); stdout goes to /dev/null so
    Python's flush at exit cannot complain either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(141)


def _describe_os_error(exc: OSError) -> str:
    where = f"{os.fsdecode(exc.filename)}: " if exc.filename else ""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free some space, or write somewhere else"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "check the permissions, or choose another location"
    else:
        fix = "check the path"
    return f"{where}{reason}; {fix}"


def _set_flag(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and param.name:
        ctx.ensure_object(dict)[param.name] = True


def output_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``-q``/``-v`` after the subcommand as well as before it (``animalsort classify DIR -q``)."""
    fn = click.option(
        "--verbose",
        "-v",
        is_flag=True,
        expose_value=False,
        callback=_set_flag,
        help="List every failed or skipped file.",
    )(fn)
    return click.option(
        "--quiet", "-q", is_flag=True, expose_value=False, callback=_set_flag, help="No progress bars or summaries."
    )(fn)


def model_source_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--model, --weights and --labels: which model, and what its outputs are reported as."""
    decorators = [
        click.option(
            "--model",
            "-m",
            default=None,
            metavar="NAME",
            help="Registry model (see `animalsort models list`); default: lite0.",
        ),
        click.option(
            "--weights",
            type=click.Path(path_type=Path),
            default=None,
            help="A weights file: a model.pt from `animalsort finetune` (or its run "
            "folder), or a state dict for --model's architecture.",
        ),
        click.option(
            "--labels",
            type=click.Choice(LABEL_SETS),
            default="animals",
            show_default=True,
            help="Report animal labels, or the 1000 ImageNet classes.",
        ),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


class _Workers(click.ParamType):
    """``--workers``: a count (0 or more) or ``auto``."""

    name = "N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        if value in (None, "auto") or isinstance(value, int):
            return value
        try:
            n = int(value)
        except ValueError:
            self.fail(f"{value!r} is not a number of workers or 'auto'", param, ctx)
        if n < 0:
            self.fail(f"{n} workers: give 0 or more, or 'auto'", param, ctx)
        return n


WORKERS = _Workers()


DEVICE_HELP = f"Where the model runs. {described(DEVICES)}."


def auto_choice_option(name: str, choices: Iterable[str], help: str) -> Callable[..., Any]:
    """A choice whose default, auto, leaves it to animalsort: ``--device``, ``--precision``,
    ``--runtime``, ``--decode``, finetune's ``--mode``."""
    return click.option(name, type=click.Choice(tuple(choices)), default="auto", show_default=True, help=help)


def device_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--device``, the same for every command that loads a model."""
    return auto_choice_option("--device", DEVICES, DEVICE_HELP)(fn)


def view_option(default: str, help: str) -> Callable[..., Any]:
    """``--view``: which windows of a photo the model looks at (classify, explain, finetune)."""
    return click.option("--view", type=click.Choice(VIEW_MODES), default=default, show_default=True, help=help)


def batch_size_option(help: str) -> Callable[..., Any]:
    """``--batch-size``/``-b``, 32 by default (classify, finetune)."""
    return click.option("--batch-size", "-b", type=click.IntRange(min=1), default=32, show_default=True, help=help)


def processes_option(help: str) -> Callable[..., Any]:
    """``--workers``/``-j N``: a count of processes, None for the machine's default (finetune,
    report, inspect; classify's ``--workers`` also takes auto)."""
    return click.option("--workers", "-j", type=click.IntRange(min=0), default=None, help=help)


def model_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every command that runs a model over a folder."""
    decorators = [
        model_source_options,
        device_option,
        auto_choice_option("--precision", PRECISIONS, f"Inference precision. {described(PRECISIONS)}."),
        auto_choice_option("--runtime", RUNTIMES, f"What runs the model. {described(RUNTIMES)}."),
        auto_choice_option(
            "--decode",
            DECODERS,
            "Where JPEGs are decoded: gpu = nvJPEG on the CUDA device (for when "
            "CPU decoding is the bottleneck); auto = CPU workers.",
        ),
        view_option(
            "frame",
            "How much of each photo the model looks at: centre = the ImageNet centre crop (fastest; "
            "misses animals near the edges of a wide frame); frame = one look at the whole frame, then one "
            "closer look at a small or uncertain animal; tiles = up to five closer looks, for small animals "
            "far from the camera. The CSV gets the box around the animal and its animal_score.",
        ),
        batch_size_option("Images per forward pass."),
        click.option(
            "--workers",
            "-j",
            type=WORKERS,
            default=None,
            help="Decoding processes, or auto (the default on the CPU): as many as keep the model fed, from what "
            "the first photos cost to decode and to classify here. 0 decodes in the main process.",
        ),
        click.option(
            "--top-k", type=click.IntRange(min=1), default=3, show_default=True, help="Labels reported per image."
        ),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def label_list_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--only`` / ``--exclude LABELS``: "the animals that live here" (``LabelSet.restricted``)."""
    for name, help in (
        (
            "--exclude",
            "Never answer with these labels (comma-separated, or the option again); with --only: its labels "
            "minus these, so a fixed --only list can leave out what one site cannot have.",
        ),
        (
            "--only",
            "Answer with these labels only, e.g. fox,wolf,pig,bird (no_animal always stays): the others' "
            "probability goes to them, renormalised — an animal stays an animal — so a European camera trap never "
            "answers zebra. The sidecar records the lists.",
        ),
    ):
        fn = click.option(name, metavar="LABELS", multiple=True, callback=_label_names, help=help)(fn)
    return fn


def _label_names(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """The names of an ``--only``/``--exclude``; one that names none (``--only "$EMPTY"``) is
    refused: answering with every label is what leaving the option out does."""
    from animalsort.taxonomy import label_list

    names = label_list(value)
    if value and not names:
        raise click.BadParameter(f"{value[0]!r} names no label; give labels (fox,wolf) or leave the option out")
    return names


def video_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """How video clips are read: --videos/--no-videos, --video-every, --video-max-frames."""
    from animalsort.sources.video import DEFAULT_EVERY, DEFAULT_MAX_FRAMES

    decorators = [
        click.option(
            "--videos/--no-videos",
            default=True,
            show_default=True,
            help="Classify video clips (.mp4, .mov, .avi, .mkv, .m4v, …) from sampled frames; --no-videos skips them.",
        ),
        click.option(
            "--video-every",
            type=click.FloatRange(min=0.01),
            default=DEFAULT_EVERY,
            show_default=True,
            metavar="SECONDS",
            help="Sample a clip's frame this often.",
        ),
        click.option(
            "--video-max-frames",
            type=click.IntRange(min=1),
            default=DEFAULT_MAX_FRAMES,
            show_default=True,
            metavar="N",
            help="At most this many frames per clip (a longer clip is sampled evenly instead).",
        ),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def detections_option(help: str) -> Callable[..., Any]:
    """``--detections FILE.json``: MegaDetector's boxes in (classify, finetune)."""
    return click.option(
        "--detections", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE.json", help=help
    )


def detection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--detections FILE.json``, ``--detection-threshold``, ``--rows``: MegaDetector's boxes in."""
    from animalsort.formats.detection_rows import ROWS
    from animalsort.formats.detections import DEFAULT_THRESHOLD

    decorators = [
        detections_option(
            "MegaDetector batch output for SRC (MegaDetector, AddaxAI, Pytorch-Wildlife, `animalsort export -f "
            "megadetector`): each animal box is classified from its square crop, a person or vehicle box keeps "
            "that label, a photo without boxes is no_animal without running the model. Adds count, labels and "
            "detections columns.",
        ),
        click.option(
            "--detection-threshold",
            type=click.FloatRange(0, 1),
            default=DEFAULT_THRESHOLD,
            show_default=True,
            help="Detections at or above this confidence count (MegaDetector's recommended threshold for MDv5).",
        ),
        click.option(
            "--rows",
            type=click.Choice(ROWS),
            default="files",
            show_default=True,
            help="With --detections: one row per file (its most confident animal's label), or one per detection "
            "(its box, detection, detection_confidence, detection_category; an empty photo gets one no_animal row).",
        ),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def sequences_option(name: str, help: str) -> Callable[..., Any]:
    """``--sequences [SECONDS]`` (classify) / ``--by-sequence [SECONDS]`` (sort): an optional gap."""
    from animalsort.inference.bursts import DEFAULT_GAP

    return click.option(
        name,
        "sequences",
        type=click.FloatRange(min=0),
        is_flag=False,
        flag_value=DEFAULT_GAP,
        default=None,
        metavar="[SECONDS]",
        help=f"{help} (default gap {DEFAULT_GAP:g} s).",
    )


#: The options that only say how to classify (``model_options``, ``video_options``): with a
#: CSV as the input (``sort --from``, ``tag PREDS.csv``) nothing is classified, so they would do nothing.
CLASSIFY_ONLY = (
    "model",
    "weights",
    "labels",
    "device",
    "precision",
    "runtime",
    "decode",
    "view",
    "batch_size",
    "workers",
    "top_k",
    "videos",
    "video_every",
    "video_max_frames",
)


def refuse_given(ctx: click.Context, names: Iterable[str], why: str) -> None:
    """Exit 2 naming the options among ``names`` that the command line gave (whatever their
    value) when they would do nothing — ``why`` says when: an option accepted and ignored
    lets a person believe it worked."""
    wanted = set(names)
    given = [
        "/".join([p.opts[0], *p.secondary_opts[:1]])
        for p in ctx.command.params
        if p.name in wanted and ctx.get_parameter_source(p.name) is ParameterSource.COMMANDLINE
    ]
    if given:
        raise click.UsageError(f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} nothing {why}", ctx)


def from_csv_option(help: str) -> Callable[..., Any]:
    """``--from PREDS.csv``: a classify CSV to use (sort, finetune)."""
    return click.option("--from", "from_csv", type=click.Path(dir_okay=False, path_type=Path), default=None, help=help)


def min_confidence_option(help: str) -> Callable[..., Any]:
    """``--min-confidence`` (sort's threshold, 0.5 by default), with what falling below it means."""
    from animalsort.formats.thresholds import DEFAULT_MIN_CONFIDENCE

    return click.option(
        "--min-confidence", type=click.FloatRange(0, 1), default=DEFAULT_MIN_CONFIDENCE, show_default=True, help=help
    )


def thresholds_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--thresholds audit.json``: per-label thresholds (``formats.thresholds``) over --min-confidence."""
    return click.option(
        "--thresholds",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        metavar="AUDIT.json",
        help="Per-label thresholds from the JSON `animalsort audit report` wrote (PREDS.audit.json) instead of one "
        "--min-confidence (a label the file has no threshold for keeps --min-confidence; reviewed rows always count).",
    )(fn)


def print_thresholds(thresholds: Thresholds | None) -> None:
    """The line that says an audit's thresholds were used (nothing without --thresholds)."""
    if thresholds is None or thresholds.file is None:
        return
    click.echo(
        f"  thresholds of {count(len(thresholds.per_label), 'label')} from {thresholds.file.name}; the others at "
        f"--min-confidence {thresholds.minimum:g}",
        err=True,
    )


def predictions_argument(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``PREDICTIONS``: the classify CSV a command reads (report, review, audit)."""
    return click.argument("predictions", type=click.Path(dir_okay=False, path_type=Path))(fn)


def out_file_option(help: str, **more: Any) -> Callable[..., Any]:
    """``--out``/``-o FILE``: the file a command writes; None (the command's default) unless
    ``more`` says otherwise (a default, ``required``, a callback)."""
    return click.option(
        "--out", "-o", type=click.Path(dir_okay=False, path_type=Path), **{"default": None, **more}, help=help
    )


def csv_src_option(when: str = "") -> Callable[..., Any]:
    """``--src``: the folder a predictions CSV's paths are relative to (report, review, finetune)."""
    return click.option(
        "--src",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=f"{when}{'the folder' if when else 'Folder'} the CSV's paths are relative to. Default: the "
        "classified folder (recorded in the CSV's sidecar); photos a sort from the CSV moved are found "
        "through its journal.",
    )


def manifest_options(files_help: str, root_help: str) -> Callable[..., Any]:
    """``--files-from LIST`` and ``--root DIR`` (classify, merge)."""

    def apply(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn = click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None, help=root_help)(fn)
        return click.option("--files-from", default=None, metavar="LIST", help=files_help)(fn)

    return apply


def print_refused(refused: list[tuple[str, str]], verbose: bool) -> None:
    """The CSV rows refused because their path leads outside SRC (``paths.RowPaths``): one
    ``refused:`` line each (five without -v)."""
    shown = refused if verbose else refused[:5]
    for rel, why in shown:
        click.echo(f"  {rel}: {why}", err=True)
    if len(refused) > len(shown):
        click.echo(f"  … {len(refused) - len(shown)} more refused rows (-v lists them)", err=True)


def print_detections(record: dict[str, Any]) -> None:
    """What ``--detections`` did (``inference/detected.py``'s counts), and what to know about its file."""
    n, name = record["counts"], Path(record["file"]).name
    click.echo(
        f"  {name} ({record['detector']}, threshold {record['threshold']:g}): {count(n['listed'], 'file')} listed, "
        f"{n['empty']} without a box (the model did not run), "
        f"{count(n['animals'], 'animal box', 'animal boxes')} classified, "
        f"{count(n['people'], 'person box', 'person boxes')}, {count(n['vehicles'], 'vehicle box', 'vehicle boxes')}",
        err=True,
    )
    lines = [
        ("not_listed", "under SRC but not in the JSON: classified whole, as without --detections"),
        ("missing", "listed but not under SRC: error rows"),
        ("not_classified", "listed and under SRC but not classified (not photos, another shard's)"),
        ("outside", "listed with a path outside SRC, not opened"),
    ]
    for kind, what in lines:
        if n[kind]:
            shown = "; ".join(n["examples"].get(kind, []))
            click.echo(f"  {count(n[kind], 'file')} {what}: {shown}{', …' if n[kind] > 5 else ''}", err=True)
    recommended = ((record.get("info") or {}).get("detector_metadata") or {}).get("typical_detection_threshold")
    if isinstance(recommended, (int, float)) and recommended != record["threshold"]:
        click.echo(
            f"note: {name} recommends --detection-threshold {recommended:g} for its detector; this run used "
            f"{record['threshold']:g}",
            err=True,
        )
    if record.get("ignored"):
        ignored = ", ".join(f"{c} ({k})" for c, k in record["ignored"].items())
        click.echo(f"note: detections of other categories were left out: {ignored}", err=True)


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 file``, ``2 files``, ``1,234 rows`` (``plural`` where it is not the noun + s: boxes)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def print_summary(summary: Summary, verbose: bool) -> None:
    resumed = f", {summary.resumed} kept from before" if summary.resumed else ""
    click.echo(
        f"{summary.found} found, {summary.ok} ok, {summary.failed} failed{resumed} in "
        f"{summary.seconds:.1f} s ({summary.images_per_s:.1f} {'files' if summary.videos else 'images'}/s) "
        f"[{summary.model} on {summary.device}, {summary.runtime} {summary.precision}]"
        + (f" → {summary.out}" if summary.out else ""),
        err=True,
    )
    if summary.videos:
        click.echo(f"  {summary.videos} of them video clips: {summary.frames} frames classified", err=True)
    if summary.sequences is not None:
        seq = summary.sequences
        times = ", ".join(f"{n} from {src}" for src, n in seq["capture_time"].items() if n)
        click.echo(f"  {seq['count']} sequences (gap {seq['gap_s']:g} s; capture times: {times or 'none'})", err=True)
        if seq.get("copied_times"):
            click.echo(
                f"  {count(seq['copied_times'], 'photo')} not chained into bursts: without EXIF, they share their "
                "modification times with others of their folder (copied without their times)",
                err=True,
            )
    if summary.detections is not None:
        print_detections(summary.detections)
    if summary.runtime_note:
        click.echo(f"note: {summary.runtime_note}", err=True)
    shown = summary.errors if verbose else summary.errors[:5]
    for rel, reason in shown:
        click.echo(f"  failed: {rel}: {reason}", err=True)
    if summary.failed > len(shown):
        click.echo(f"  … {summary.failed - len(shown)} more failures: see the CSV's error column", err=True)
    if summary.failed:
        click.echo(
            f"warning: {count(summary.failed, 'file')} could not be read; each has a row with status=error "
            "(--strict makes this exit 1)",
            err=True,
        )
    skipped = summary.skipped
    if skipped is not None and skipped.skipped:
        more = "" if verbose else " (-v lists them)"
        click.echo(f"skipped {skipped.describe_skipped()}: not images{more}", err=True)
        if verbose:
            for rel in skipped.examples:
                click.echo(f"  skipped: {rel}", err=True)
            hidden = sum(skipped.skipped.values()) - len(skipped.examples)
            if hidden > 0:
                click.echo(f"  … {hidden} more", err=True)
