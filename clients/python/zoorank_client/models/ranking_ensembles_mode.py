from enum import StrEnum

class RankingEnsemblesMode(StrEnum):
    EXHAUSTIVE = "exhaustive"
    GREEDY = "greedy"

    def __str__(self) -> str:
        return str(self.value)
