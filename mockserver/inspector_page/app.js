// placeholder: events
