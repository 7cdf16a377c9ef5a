"""What to overwrite inside the recurrence: :class:`Intervention`.

The data class lives in :mod:`skdni.models` (the recurrence reads it, and ``models``
imports no other subpackage); it is re-exported here, where users import it.
"""

from ..models._interventions import Intervention, check_values, top_and_random_units

__all__ = ["Intervention", "check_values", "top_and_random_units"]
