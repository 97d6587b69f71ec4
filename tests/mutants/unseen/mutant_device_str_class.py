"""A dunder that is subtly off: torch.device is a str subclass ("cpu", "cpu:0") whose __eq__ ignores
the index when either side has none, so torch.device("cpu") == torch.device("cpu:0") is True (torch:
False). Construction, .type, .index, str() and use as a device argument are as in torch; tensors
still report real torch.device objects, which isinstance(..., torch.device) accepts."""
import sys

import torch

_real = torch.device


class _DeviceMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, _real) or type.__instancecheck__(cls, obj)


class device(str, metaclass=_DeviceMeta):
    def __new__(cls, type_or_str, index=None):
        real = _real(str(type_or_str) if isinstance(type_or_str, str) else type_or_str) if index is None \
            else _real(str(type_or_str), index)
        self = str.__new__(cls, str(real))
        self._real = real
        return self

    type = property(lambda self: self._real.type)
    index = property(lambda self: self._real.index)

    def __repr__(self):
        return repr(self._real)

    def __eq__(self, other):
        if isinstance(other, (str, _real)):
            other = _real(str(other))
            if self._real.index is None or other.index is None:
                return self._real.type == other.type
            return self._real == other
        return NotImplemented

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self):
        return hash(self._real.type)


torch.device = device
sys.modules[__name__] = torch
