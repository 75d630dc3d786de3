"""``python -m scriptflow ...`` is the ``scriptflow`` command (useful where no script was installed)."""
from .entry import main

if __name__ == "__main__":
    main()
