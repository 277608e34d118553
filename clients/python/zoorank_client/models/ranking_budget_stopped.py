from enum import StrEnum

class RankingBudgetStopped(StrEnum):
    BUDGET_SPENT = "budget-spent"
    FULL_SAMPLE = "full-sample"
    ONE_MODEL_LEFT = "one-model-left"

    def __str__(self) -> str:
        return str(self.value)
