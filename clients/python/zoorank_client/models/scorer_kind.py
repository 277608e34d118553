from enum import StrEnum

class ScorerKind(StrEnum):
    ENSEMBLE = "ensemble"
    MODEL = "model"
    SET = "set"

    def __str__(self) -> str:
        return str(self.value)
