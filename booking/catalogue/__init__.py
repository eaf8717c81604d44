"""What can be booked, where and under which rules: sites, closures, resources, trainings, plans."""
