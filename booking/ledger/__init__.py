"""The quota ledger: booked seconds reserved and refunded, machine runtime charged; every balance."""
