"""`python -m dashboard` serves the dashboard (see dashboard/serve.py)."""

from dashboard.serve import main

if __name__ == "__main__":
    main()
