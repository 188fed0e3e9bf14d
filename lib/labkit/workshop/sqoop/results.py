"""What an import reports: per mapper and in all."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class MapperResult:
    index: int
    label: str
    file: Path
    sent_rows: int = 0        # the server's count for this slice (COPY's command tag)
    landed_rows: int = 0      # records counted in the written file
    bytes: int = 0
    seconds: float = 0.0


@dataclass
class ImportResult:
    table: str
    target_dir: Path
    file_format: str
    splitting: str
    mappers: list[MapperResult]
    source_rows: int
    landed_rows: int
    seconds: float
    mode: str
    files: list[Path] = field(default_factory=list)
    validated: bool = False           # a count(*) of the source agreed too (--validate)

    @property
    def bytes(self) -> int:
        return sum(m.bytes for m in self.mappers)

    @property
    def rows_per_second(self) -> float:
        return self.landed_rows / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        """Sqoop's closing log lines."""
        mb = self.bytes / 2**20
        return (f"Transferred {mb:,.1f} MB in {self.seconds:.1f} seconds ({mb / max(self.seconds, 1e-9):,.1f} MB/sec)\n"
                f"Retrieved {self.landed_rows:,} records (source: {self.source_rows:,} rows"
                f"{', validated by count(*)' if self.validated else ''}) into {self.target_dir}")

    def table_of_mappers(self):
        """One row per mapper: its slice, the rows the server sent, the rows that landed, size and time."""
        import pandas as pd

        return pd.DataFrame([{
            "mapper": m.index, "slice": m.label, "file": m.file.name, "rows sent": m.sent_rows,
            "rows landed": m.landed_rows, "MiB": round(m.bytes / 2**20, 1), "seconds": round(m.seconds, 2),
        } for m in self.mappers]).set_index("mapper")
