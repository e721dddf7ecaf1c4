"""The sweep page's parts."""
