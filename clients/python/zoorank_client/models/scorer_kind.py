from enum import StrEnum

class ScorerKind(StrEnum):
    BASELINE = "baseline"
    ENSEMBLE = "ensemble"
    MODEL = "model"
    SET = "set"

    def __str__(self) -> str:
        return str(self.value)
