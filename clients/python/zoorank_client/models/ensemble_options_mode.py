from enum import StrEnum

class EnsembleOptionsMode(StrEnum):
    EXHAUSTIVE = "exhaustive"
    GREEDY = "greedy"

    def __str__(self) -> str:
        return str(self.value)
