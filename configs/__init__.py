"""Bundled recipes (YAML), shipped inside the wheel: `winnow recipes` lists them, `winnow run NAME` runs one."""
