from enum import StrEnum

class ModelProgressStatus(StrEnum):
    CACHED = "cached"
    DONE = "done"
    DROPPED = "dropped"
    EXTRACTED = "extracted"
    EXTRACTING = "extracting"
    FAILED = "failed"
    QUEUED = "queued"
    SCORING = "scoring"

    def __str__(self) -> str:
        return str(self.value)
