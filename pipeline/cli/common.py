"""Helpers shared by the CLI commands: error reporting, the options of config-driven jobs, the funnel table."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

# Pipes and CI logs get 140 columns instead of rich's 80, so reason names stay readable.
console = Console(stderr=False, width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True)


def config_path(arg: str | None, default: str) -> str:
    """A config argument (a file, or a bundled recipe's name; None: the `default` recipe) → a file path."""
    from winnow.pipeline import recipes

    try:
        return recipes.resolve(arg or default)
    except recipes.RecipeError as exc:
        fail(str(exc))


def setup_logging(verbose: bool) -> None:
    """Warnings by default; -v shows Winnow's and Ray's informational messages (Ray's start-up notes too)."""
    import logging

    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("winnow").setLevel(level)


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


@dataclass
class JobOptions:
    """What `winnow mix` and `winnow ablate` share: a config and its overrides, where it writes, how loudly."""

    name: str  # the command, which prefixes its progress lines
    recipe: str  # the bundled recipe that no config argument means
    noun: str  # what the job writes ("mix", "ablation"), in messages
    report: str  # the output file that records the config it was written with
    config: str | None
    output: str | None
    set_: list[str]
    executor: str | None
    overwrite: bool
    quiet: bool
    verbose: bool

    def run(self, load: Callable[..., Any], run: Callable[..., Any], *errors: type[Exception]) -> tuple[Any, Any]:
        """Read the config (`load`), refuse to replace another config's output, run the job; (config, its report).

        A bad config, a bad input (`errors` and the common ones) or an unreachable cluster fails in one line."""
        from winnow.pipeline.config import ConfigError, parse_set
        from winnow.pipeline.executors import ClusterError
        from winnow.pipeline.storage import InputError
        from winnow.pipeline.tokens.tokenizer import TokenizerError

        setup_logging(self.verbose)
        path = config_path(self.config, self.recipe)
        try:
            overrides = parse_set(self.set_)
            if self.executor:
                overrides["engine.executor"] = self.executor
            cfg = load(path, output=self.output, overrides=overrides)
        except ConfigError as exc:
            fail(f"{path}: {exc}")
        self.refuse_other(cfg)
        say = (lambda s: None) if self.quiet else (lambda s: console.print(f"[dim]{self.name}:[/] {s}", highlight=False))
        try:
            return cfg, run(cfg, progress=say)
        except (ConfigError, InputError, TokenizerError, ClusterError, *errors) as exc:
            fail(str(exc))

    def refuse_other(self, cfg: Any) -> None:
        """Like `winnow run`: an output written with another config is replaced only with --overwrite."""
        import json
        import os

        path = os.path.join(cfg.output, self.report)
        if self.overwrite or not os.path.isfile(path):
            return
        with open(path, encoding="utf-8") as f:
            previous = json.load(f).get("config")
        ours = json.loads(cfg.model_dump_json())
        where = ("engine", "output")  # where and how it runs does not make it another job
        if previous is not None and {k: v for k, v in previous.items() if k not in where} != {
            k: v for k, v in ours.items() if k not in where
        }:
            article = "an" if self.noun[0] in "aeiou" else "a"
            fail(f"{cfg.output} holds {article} {self.noun} of another config; pass --overwrite to replace it, "
                 "or --output DIR")


# The options of the config-driven commands (`winnow run`, `winnow export` and `job_command`'s), declared once. Each is a function
# so that every command's signature gets its own declaration; the texts that differ by command are arguments.
PIPELINE_SET_HELP = "A param NAME=VALUE, or any key by its path a.b=VALUE (stages by name); repeatable."


def config_argument(help: str) -> Any:
    return typer.Argument(None, help=help)


def output_option() -> Any:
    return typer.Option(None, "--output", "-o", help="Output directory (overrides the config).")


def set_option(help: str) -> Any:
    return typer.Option([], "--set", help=help)


def overwrite_option(noun: str) -> Any:
    return typer.Option(False, "--overwrite", help=f"Replace an output directory that holds another {noun}.")


def quiet_option(help: str = "No progress output.") -> Any:
    return typer.Option(False, "--quiet", "-q", help=help)


def verbose_option() -> Any:
    return typer.Option(False, "--verbose", "-v", help="Also informational logs (Winnow's and Ray's).")


def job_command(recipe: str, noun: str, report: str, config_help: str, set_help: str) -> Callable[[Callable], Callable]:
    """Give a config-driven job command its options, declared once here; it receives them as one JobOptions.

    Typer reads a command's options from its signature, so the wrapper carries the shared one."""
    options = [
        ("config", str | None, config_argument(config_help)),
        ("output", str | None, output_option()),
        ("set_", list[str], set_option(set_help)),
        ("executor", str | None, typer.Option(None, "--executor", help="ray (default) or local (in-process).")),
        ("overwrite", bool, overwrite_option(noun)),
        ("quiet", bool, quiet_option()),
        ("verbose", bool, verbose_option()),
    ]

    def decorate(fn: Callable[[JobOptions], None]) -> Callable:
        @functools.wraps(fn)
        def command(**given: Any) -> None:
            fn(JobOptions(fn.__name__, recipe, noun, report, **given))

        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        command.__signature__ = inspect.Signature([inspect.Parameter(n, kind, default=d, annotation=t)
                                                   for n, t, d in options], return_annotation=None)
        command.__annotations__ = {n: t for n, t, _ in options}
        return command

    return decorate


def funnel_table(stats: dict[str, Any]) -> Table:
    table = Table(title="funnel", show_lines=False)
    for col in ("stage", "in", "kept", "skipped", "dropped", "failed", "MB in", "seconds"):
        left = col in ("stage", "skipped", "dropped", "failed")
        # Reasons fold onto several lines rather than being cut: they are what the table is for.
        table.add_column(col, justify="left" if left else "right", overflow="fold", no_wrap=not left)
    for s in stats["stages"]:
        dropped = "\n".join(f"{k}={v:,}" for k, v in s["dropped"].items()) or "-"
        failed = "\n".join(f"{k}={v:,}" for k, v in s["failed"].items()) or "-"
        skipped = "\n".join(f"{k}={v:,}" for k, v in s.get("skipped", {}).items()) or "-"
        table.add_row(
            s["name"], f"{s['in']:,}", f"{s['kept']:,}", skipped, dropped, failed, f"{s['bytes_in'] / 1e6:.2f}",
            f"{s['seconds'] + s.get('fit_seconds', 0):.2f}",
        )
    return table
