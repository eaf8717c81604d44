"""A card at the machine: the access decision, the unlock's length, walk-ins, the runtime quota."""
