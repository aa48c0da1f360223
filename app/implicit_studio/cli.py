"""The ``implicit-studio`` command: the window by default, subcommands for everything it does.

Exit codes: 0 success, 2 bad input (one line on stderr, no traceback), 1 internal error.
Heavy packages (torch, Qt) are imported inside the commands so ``--help`` starts fast.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from pathlib import Path

from . import __version__

log = logging.getLogger("implicit_studio")

UP_HELP = ("the scan's up axis: +y (default, except LAS: +z; the models were trained y-up), +z for z-up scans (LiDAR, "
           "Blender, most photogrammetry), or -z, +x, -x, -y (write --up=-z); meshes are still written in the "
           "file's own axes")


POSE_HELP = ("straighten: a learned point-cloud model sees the scan turned to the axes of its tightest box when it "
             "is clearly off them (instant); "
             "auto: a learned point-cloud model tries the scan in 25 poses (as it is and the quarter turns of its "
             "tightest box) and keeps the one its coarse mesh fits best, for scans in any pose (a few seconds, after a coarse mesh "
             "of the scan as loaded); "
             "as-is: the file's axes")


BOX_HELP = ("image inputs: the object's box in pixels (left, top, right, bottom); the object is isolated "
            "inside it (default: looked for from a centred box)")


def _add_parameter(parser: argparse.ArgumentParser, param, kind: type) -> None:
    """An option for a declared ``engine.settings.Parameter``; its range is checked by ``Settings.validate``."""
    unit = f" {param.unit}" if param.unit else ""
    parser.add_argument(f"--{param.name.replace('_', '-')}", type=kind, default=kind(param.default),
                        help=f"{param.help} ({param.low:g}-{param.high:g}{unit}, default {param.default:g})")


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from .engine.session import ReconstructionSession, Settings
    from .io.files import check_output, load_input, write_mesh, write_spooled_mesh
    from .io.ply import MeshSpool
    from .io.orientation import current_up, parse_up, reorient
    from .io.photo import parse_box
    from .errors import InputError

    out = Path(args.out)
    settings = Settings(model=args.model, checkpoint=args.checkpoint, resolution0=args.resolution0,
                        levels=args.levels, threshold=args.threshold, device=args.device,
                        seconds=args.seconds, refine=args.refine, seed=args.seed, units=args.units,
                        voxel=args.voxel, trim=args.trim, box=parse_box(args.box) if args.box else None,
                        pose=args.pose, ensemble=args.ensemble)
    settings.validate()
    check_output(out)
    up = parse_up(args.up) if args.up else None
    data = load_input(args.input)
    turned = up is not None and up != current_up(data)
    data = reorient(data, up) if turned else data
    for notice in data.notices:
        log.info("%s", notice)
    if turned:
        log.info("turned so that the file's %s axis is up; the mesh is written in the file's axes", up)
    known = len(data.notices)
    session = ReconstructionSession(data, settings)
    del data                 # (a scene's session holds its own copy, in metres)
    for notice in session.data.notices[known:]:
        log.info("%s", notice)
    # a scene written as .ply goes to disk tile by tile: memory does not grow with the room
    streamed = session.spec.metric and out.suffix.lower() == ".ply"
    with MeshSpool() if streamed else contextlib.nullcontext() as spool:
        to_user = session.data.normalization.to_user
        sink = None if spool is None else (lambda vertices, faces: spool.add(to_user(vertices), faces))
        final, stats = _run_session(session, sink, args.quiet)
        faces = spool.face_count if spool is not None else 0 if final is None else len(final.faces)
        if final is None or faces == 0:
            reason = stats.get("empty", f"{settings.model} found no surface")
            raise InputError(f"{args.input}: {reason}")
        if "cannot" in stats:
            raise InputError(f"{args.input}: {stats['cannot']}")
        if spool is not None:
            write_spooled_mesh(out, spool)
            vertices = spool.vertex_count
        else:
            write_mesh(out, to_user(final.vertices), final.faces)
            vertices = len(final.vertices)
    pose = stats.get("pose")
    if pose is not None and pose["method"] == "straighten" and pose["degrees"] > 0.5:
        log.info("straightened: turned %.0f degrees for the model to the axes of the scan's tightest box (its "
                 "axis-aligned box holds %.2f times the volume); the mesh is written in the file's axes",
                 pose["degrees"], pose["box_ratio"])
    elif pose is not None and pose["method"] == "search":
        log.info("pose search (%d poses, %.1f s): turned %.0f degrees for the model, mesh to points %.4f "
                 "(as it is: %.4f); the mesh is written in the file's axes", pose["candidates"], pose["seconds"],
                 pose["degrees"], pose["fit_distance"], pose["fit_distance_as_is"])
    stats.update(out=str(out), faces=faces, vertices=vertices,
                 first_mesh_s=stats["levels"][0]["t_s"], final_mesh_s=stats["levels"][-1]["t_s"],
                 evaluations=stats["levels"][-1]["evaluations"])
    if args.stats_json:
        Path(args.stats_json).write_text(json.dumps(stats, indent=2, default=str))
    print(f"wrote {out} ({faces:,} faces) in {stats['total_s']:.2f} s with {settings.model} on {stats['device']}")
    return 0


def _run_session(session, sink, quiet: bool) -> tuple:
    """Run ``session`` reporting progress on the log: (the final LevelMesh or None, the stats)."""
    from .engine.events import Finished, FitProgress, Isolated, LevelMesh, TileMesh

    final = None
    stats: dict = {}
    for event in session.run(scene_sink=sink):
        if isinstance(event, LevelMesh) and not event.preview:
            if len(event.faces):             # (a streamed scene's final event carries no faces)
                log.info("level %d (%d^3): %d faces, %d evaluations, %.2f s", event.level, event.resolution,
                         len(event.faces), event.evaluations, event.seconds)
            final = event
        elif isinstance(event, TileMesh) and not quiet and (event.done == 1 or event.done % 10 == 0):
            log.info("tile %d of at most %d meshed at %.2f s", event.done, event.total, event.seconds)
        elif isinstance(event, FitProgress) and not quiet and event.step % 50 == 0:
            log.info("%s step %d  loss %.4f  %.1f steps/s", event.stage, event.step, event.total, event.steps_per_s)
        elif isinstance(event, Isolated):
            x0, y0, x1, y1 = event.box
            log.info("object isolated (%s, box %d,%d,%d,%d): %.0f%% of the image", event.method, x0, y0, x1, y1,
                     100 * event.mask.mean())
            if event.problem:
                log.warning("warning: %s", event.problem)
        elif isinstance(event, Finished):
            stats = event.stats
    return final, stats


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate.metrics import evaluate_files, format_metrics

    result = evaluate_files(args.pred, args.gt, n_points=args.points, seed=args.seed)
    print(json.dumps(result, indent=2) if args.json else format_metrics(result))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .engine.registry import MODELS, default_checkpoint
    from .engine.checkpoints import read_card

    rows = []
    for spec in MODELS.values():
        ckpt = default_checkpoint(spec.name)
        if not spec.learned:
            state = "fitted per shape (no checkpoint needed)"
        elif ckpt is None:
            state = "no trained checkpoint"
        else:
            card = read_card(ckpt)
            metrics = card.get("metrics", {})
            iou = metrics.get("test_iou")
            state = f"{ckpt.name}, {card.get('steps', '?')} steps" + (f", test IoU {iou:.3f}" if iou is not None else "")
        rows.append({"name": spec.name, "title": spec.title, "input": spec.input_kind, "checkpoint": state})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['name']:17s} {r['input']:6s} {r['title']:34s} {r['checkpoint']}")
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    from .gui.app import run_gui

    return run_gui(args)


def build_parser(argv: list[str] = ()) -> argparse.ArgumentParser:
    from .engine.device import DEVICE_CHOICES
    from .engine.settings import DEFAULT_MODELS, DEFAULT_POSE, OCCUPANCY, PARAMETERS, SDF

    parser = argparse.ArgumentParser(prog="implicit-studio", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"implicit-studio {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("reconstruct", help="reconstruct a mesh from a point cloud, mesh or image")
    p.add_argument("input")
    p.add_argument("--model", default=DEFAULT_MODELS[0], help=f"default {DEFAULT_MODELS[0]}")
    p.add_argument("--out", required=True, help="output mesh (.ply, .obj, .stl, .glb)")
    p.add_argument("--checkpoint", help="weights (.safetensors) instead of the shipped ones")
    for name in ("resolution0", "levels"):
        _add_parameter(p, PARAMETERS[name], int)
    p.add_argument("--threshold", type=float, help=f"{OCCUPANCY.help}, or for SIREN the {SDF.help} "
                   f"(default {SDF.default:g})")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    _add_parameter(p, PARAMETERS["seconds"], float)
    p.add_argument("--refine", type=float, metavar="SECONDS", help=PARAMETERS["refine"].help + " (0-600 s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stats-json", help="write timings and counts to this JSON file")
    p.add_argument("--up", help=UP_HELP)
    p.add_argument("--pose", default=DEFAULT_POSE, help=POSE_HELP + f" (default: {DEFAULT_POSE})")
    _add_parameter(p, PARAMETERS["ensemble"], int)
    p.add_argument("--units", default="m", help="scene model: the file's units, m, cm or mm (default m)")
    _add_parameter(p, PARAMETERS["voxel"], float)
    _add_parameter(p, PARAMETERS["trim"], float)
    p.add_argument("--box", metavar="X0,Y0,X1,Y1", help=BOX_HELP)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_reconstruct)

    p = sub.add_parser("evaluate", help="IoU, Chamfer-L1, normal consistency, F-score of a mesh against ground truth")
    p.add_argument("pred")
    p.add_argument("gt")
    p.add_argument("--json", action="store_true")
    p.add_argument("--points", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("models", help="list the models and their checkpoints")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("gui", help="open the window (the default)")
    p.add_argument("files", nargs="*")
    p.add_argument("--model")
    p.add_argument("--compare", help="comma-separated views to compare side by side: models, points, voxels, "
                   "mesh, a learned model's unrefined prior (e.g. convonet-grid:prior), or prior-refined "
                   "(--model's prior beside its refined result, from one run)")
    p.add_argument("--preset", help="classroom preset name (see resources/presets)")
    p.add_argument("--screenshot", help="save a PNG of the window when all work is done")
    p.add_argument("--turntable", metavar="OUT", help="when all work is done, save one orbit of the views as an "
                   "animated GIF (.gif) or, with imageio-ffmpeg installed, an MP4 (.mp4)")
    p.add_argument("--error-colours", action="store_true",
                   help="colour the meshes by their distance to the ground truth (mesh inputs) or the input points")
    p.add_argument("--slice-plane", metavar="AXIS[=POS]",
                   help="draw the slice plane in the views, e.g. z or x=0.1 (unit frame, -0.55 to 0.55)")
    p.add_argument("--cut-away", action="store_true",
                   help="cut the meshes away between the camera and the slice plane")
    p.add_argument("--exit-when-done", action="store_true")
    p.add_argument("--up", help=UP_HELP)
    p.add_argument("--pose", help=POSE_HELP + f" (default: {DEFAULT_POSE})")
    p.add_argument("--ensemble", type=int, help=PARAMETERS["ensemble"].help + " (1-24 turns)")
    p.add_argument("--units", help="scene model: the file's units, m, cm or mm (default m)")
    p.add_argument("--box", metavar="X0,Y0,X1,Y1", help=BOX_HELP)
    p.set_defaults(func=cmd_gui)

    _add_module_commands(sub, list(argv))
    return parser


MODULE_COMMANDS = {  # name: (help, {action word (None: none): (module, help)})
    "data": ("the training data set", {
        "build": ("implicit_studio.train.data.build", "build the training data set from registry packages"),
        "rooms": ("implicit_studio.train.data.rooms", "build synthetic rooms (metric scenes) for the scene model")}),
    "train": ("train a learned model", {None: ("implicit_studio.train.trainer", "")}),
    "benchmark": ("measure the models: 'benchmark quality' (metrics), 'benchmark scenes' (rooms) or "
                  "'benchmark speed' (timings)", {
        "quality": ("implicit_studio.evaluate.quality", "the results table of the models on the data set's splits"),
        "scenes": ("implicit_studio.evaluate.scenes", "the scene model on whole rooms against screened Poisson, "
                   "and its scaling with the floor area"),
        "speed": ("implicit_studio.evaluate.speed", "speed benchmarks: first mesh, MISE, fitting, UI (JSON)")}),
}


def _add_module_commands(sub, argv: list[str]) -> None:
    """Subcommands living in their own modules; only the one being run is imported
    (its ``add_arguments(parser)`` and ``run(args)``), so start-up stays light."""
    import importlib

    words = [a for a in argv if not a.startswith("-")][:2]
    for name, (help_text, actions) in MODULE_COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if None in actions:
            module = actions[None][0]
            p.set_defaults(module=module)
            if words[:1] == [name]:
                importlib.import_module(module).add_arguments(p)
            continue
        verbs = p.add_subparsers(dest="action", required=True, metavar="{" + ",".join(actions) + "}")
        for action, (module, action_help) in actions.items():
            q = verbs.add_parser(action, help=action_help)
            q.set_defaults(module=module)
            if words == [name, action]:
                importlib.import_module(module).add_arguments(q)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["gui", *argv])
    from .errors import Cancelled, InputError

    try:
        if hasattr(args, "module"):
            import importlib

            return int(importlib.import_module(args.module).run(args) or 0)
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Cancelled:
        print("cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 1
        if args.debug:
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
