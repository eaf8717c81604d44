"""Who uses the center: accounts, sign-in, roles, the trainings members hold, their preferences."""
