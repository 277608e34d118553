from enum import StrEnum

class JobProgressEventStage(StrEnum):
    DONE = "done"
    EXTRACT = "extract"
    FINALISE = "finalise"
    QUEUED = "queued"
    SCORE = "score"

    def __str__(self) -> str:
        return str(self.value)
