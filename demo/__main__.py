"""``python -m demo``: write the demo registry (see demo.generator)."""

from demo.generator import main

if __name__ == "__main__":
    raise SystemExit(main())
