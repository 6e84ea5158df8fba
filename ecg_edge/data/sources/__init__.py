"""Record sources: each turns one archive layout into `Record`s (ecg_edge.data.records)."""

SOURCES = ("challenge", "cpsc2018", "chapman", "mitdb", "cpsc2021", "folder")
