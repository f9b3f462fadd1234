"""``python -m convcalc`` works like the ``convcalc`` command (both enter here)."""

import gc
import os
import sys

EXIT_USAGE = 2  # convcalc.findings' value; importing that module here would defeat the check below


def main() -> None:
    # Importing pydantic, rich and typer allocates a lot and frees little: the cyclic collector would only
    # cost start-up time there. It is back on before the command runs, so no other module has to know.
    gc.disable()
    # pydantic scans every installed package's entry points for plugins when the first model is built
    # (tens of ms beside TensorFlow); the CLI uses none. Set the variable yourself to keep plugins on.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        from convcalc.cli import main as cli_main
    except ModuleNotFoundError as missing:
        if (missing.name or "convcalc").split(".")[0] == "convcalc":
            raise  # a broken install of convcalc itself, not a missing dependency
        # Run from a source tree by an interpreter that lacks the dependencies: say what to install.
        sys.stderr.write(
            f"error: convcalc needs the package {missing.name!r}, which this Python lacks;"
            " install convcalc with its dependencies: pip install -e .\n"
        )
        raise SystemExit(EXIT_USAGE) from None

    # Running a command allocates little but may build Keras models (cycles): collect as usual from here on.
    gc.enable()
    cli_main()


if __name__ == "__main__":
    main()
