from enum import StrEnum

class WeightsKind(StrEnum):
    FILE = "file"
    HUB = "hub"
    NONE = "none"
    PACKAGE = "package"

    def __str__(self) -> str:
        return str(self.value)
