"""The new-run page's parts."""
