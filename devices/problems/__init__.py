"""Problems members report with a machine or a room: each opens an alert for the site's managers."""
