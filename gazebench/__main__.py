"""``python -m gazebench``: the ``gazebench`` command (also what ``torchrun -m gazebench`` runs)."""

from gazebench.cli import main

if __name__ == "__main__":
    main()
