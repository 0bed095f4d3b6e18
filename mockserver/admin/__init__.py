"""`/__mock/*`: the admin API, the inspector and its page, live reload."""
