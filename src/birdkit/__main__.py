"""``python -m birdkit`` is the ``birdkit`` command (what ``torchrun -m birdkit ...`` starts)."""

from birdkit.cli.main import main

if __name__ == "__main__":
    main()
