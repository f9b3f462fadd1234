"""``python -m convcalc`` works like the ``convcalc`` command (both enter here)."""

import gc
import os


def main() -> None:
    # A short-lived CLI process allocates a lot while importing pydantic and rich and frees little:
    # the cyclic collector only costs start-up time here (about 10 % of a cold `convcalc check`).
    gc.disable()
    # pydantic scans every installed package's entry points for plugins when the first model is built
    # (tens of ms beside TensorFlow); the CLI uses none. Set the variable yourself to keep plugins on.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from convcalc.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
