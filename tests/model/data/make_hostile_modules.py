"""Writes TorchScript modules that do what no encoder should, one per file, into
the directory given: each reaches a forbidden operator by another path of the
code (forward, a nested block, a function it calls, a submodule, __setstate__,
which torch.jit.load runs). Used by module_check_test.cc."""

import sys
from pathlib import Path
from typing import Tuple

import torch
from torch import Tensor, nn

class ReadsAFile(nn.Module):
    def forward(self, input_ids: Tensor) -> Tensor:
        if input_ids.size(0) > 0:
            return torch.from_file("/etc/hostname", False, 4, dtype=torch.uint8).float()
        return input_ids.float()


def save_it(x: Tensor, path: str) -> Tensor:
    torch.save(x, path)
    return x


class CallsAFunctionThatWrites(nn.Module):
    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker

    def forward(self, input_ids: Tensor) -> Tensor:
        return save_it(input_ids, self.marker)


class Writer(nn.Module):
    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker

    def forward(self, x: Tensor) -> Tensor:
        for _ in range(1):
            torch.save(x, self.marker)
        return x


class HasAWritingSubmodule(nn.Module):
    def __init__(self, marker: str):
        super().__init__()
        self.inner = Writer(marker)

    def forward(self, input_ids: Tensor) -> Tensor:
        return self.inner(input_ids)


class WritesWhenLoaded(nn.Module):
    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker
        self.weight = torch.zeros(1)

    def forward(self, input_ids: Tensor) -> Tensor:
        return input_ids

    @torch.jit.export
    def __getstate__(self) -> Tuple[str, Tensor, bool]:
        return (self.marker, self.weight, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[str, Tensor, bool]) -> None:
        self.marker = state[0]
        self.weight = state[1]
        self.training = state[2]
        torch.save(self.weight, self.marker)


def main() -> None:
    """make_hostile_modules.py OUT_DIR MARKER_FILE: MARKER_FILE is what the modules
    would write if they ran."""
    out, marker = Path(sys.argv[1]), sys.argv[2]
    for name, module in (("reads_a_file", ReadsAFile()),
                         ("calls_a_function_that_writes", CallsAFunctionThatWrites(marker)),
                         ("has_a_writing_submodule", HasAWritingSubmodule(marker)),
                         ("writes_when_loaded", WritesWhenLoaded(marker))):
        torch.jit.save(torch.jit.script(module), str(out / f"{name}.pt"))


if __name__ == "__main__":
    main()
