"""``python -m convcalc`` works like the ``convcalc`` command (both enter here)."""

import gc


def main() -> None:
    # A short-lived CLI process allocates a lot while importing pydantic and rich and frees little:
    # the cyclic collector only costs start-up time here (about 10 % of a cold `convcalc check`).
    gc.disable()
    from convcalc.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
