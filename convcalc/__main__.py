"""``python -m convcalc`` works like the ``convcalc`` command (both enter here)."""

import gc
import os
import sys

EXIT_USAGE = 2  # convcalc.findings' value; importing that module here would defeat the check below


def main() -> None:
    # A short-lived CLI process allocates a lot while importing pydantic and rich and frees little:
    # the cyclic collector only costs start-up time here (about 10 % of a cold `convcalc check`).
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

    cli_main()


if __name__ == "__main__":
    main()
