from enum import StrEnum

class RankingScorersItemKind(StrEnum):
    MODEL = "model"
    SET = "set"

    def __str__(self) -> str:
        return str(self.value)
